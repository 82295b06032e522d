"""Emergency help for a card holder: contacts, SOS, and the emergency numbers page. Never refused for a card's
status (suspended, expired, zero balance)."""
