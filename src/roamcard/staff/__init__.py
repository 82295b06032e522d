"""Back-office staff: accounts, roles, two-factor sign-in, sessions."""
