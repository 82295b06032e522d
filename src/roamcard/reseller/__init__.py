"""What every API sold through (a dealer's till, a partner platform) shares: one request signature
(signing.py, verified by auth.py with one nonce store), one prepaid float with its commission (floats.py)
and one statement of the float's day (statement.py)."""
