"""eSIM profiles: the SM-DP+ vendor's inventory, activation codes, the install page and the lifecycle."""
