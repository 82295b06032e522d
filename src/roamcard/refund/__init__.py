"""Refunds: the card holder asks, staff decide, the ledger is reversed first, then the gateway pays back."""
