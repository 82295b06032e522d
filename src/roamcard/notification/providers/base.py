from __future__ import annotations

from typing import Protocol


class SmsProvider(Protocol):
    name: str

    def send(self, phone: str, body: str, *, reference: str) -> str:
        """Send one message; returns the provider's message id. `reference` is ours, for idempotency."""
        ...
