"""The partner API: third-party platforms top up cards for their users (docs/partners.md)."""
