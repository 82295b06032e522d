"""eSIM use cases, one module each: inventory (import, allocation, stock)."""
