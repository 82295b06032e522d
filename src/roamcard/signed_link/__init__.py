"""Single-use signed links: one mechanism for the payment link by SMS and the sandbox's approve/decline."""
