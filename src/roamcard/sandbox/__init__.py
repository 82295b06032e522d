"""A built-in hosted payment gateway for demos and tests. It behaves like a real one: its own checkout
page, its own records, and signed notifications delivered to `/webhooks/sandbox` over HTTP."""
