"""Partner use cases: manage (create, keys, credit, suspend), auth (signatures, allow-list), topups,
callbacks, statement."""
