"""Top-up use cases: quote, create, fulfil, expire."""
