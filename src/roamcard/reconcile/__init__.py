"""Reconciliation: a gateway's settlement file against our payments and refunds, day by day."""
