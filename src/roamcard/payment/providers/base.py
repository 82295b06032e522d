from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from roamcard.models import Payment


class GatewayUnavailable(Exception):
    """Timeout, connection error or 5xx: the outcome is unknown, never failed (DESIGN.md §3.4)."""


@dataclass(frozen=True)
class Checkout:
    checkout_url: str
    provider_reference: str


class RemoteStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class PaymentProvider(Protocol):
    name: str

    def create_checkout(self, session: Session, payment: Payment) -> Checkout:
        """Open the payment at the gateway, with our payment id as its reference.
        Raises GatewayUnavailable when the gateway does not answer."""
        ...

    def query(self, session: Session, payment: Payment) -> RemoteStatus:
        """Ask the gateway what happened. Raises GatewayUnavailable when it does not answer."""
        ...

    def close(self, session: Session, payment: Payment) -> None:
        """Close an unpaid payment so a late payment cannot land on an expired order."""
        ...
