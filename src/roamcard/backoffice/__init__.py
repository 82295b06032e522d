"""The back office at /admin: the customer-service agent console and the audit log."""
