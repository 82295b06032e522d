"""The sandbox gateway's charges: open until the payer decides or the merchant closes it."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import SandboxCharge


class ChargeStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"
    CLOSED = "closed"


C = ChargeStatus
TRANSITIONS = {
    C.OPEN: {C.APPROVED, C.DECLINED, C.CLOSED},
    C.APPROVED: set(),
    C.DECLINED: set(),
    C.CLOSED: set(),
}

charge_machine = StateMachine("sandbox_charge", SandboxCharge, TRANSITIONS)
