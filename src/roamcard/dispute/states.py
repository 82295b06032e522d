from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Dispute


class DisputeStatus(StrEnum):
    OPEN = "open"  # the bank took the money back; the gateway decides
    WON = "won"  # decided for us: the money came back
    LOST = "lost"  # decided for the payer: written off


D = DisputeStatus
TRANSITIONS = {D.OPEN: {D.WON, D.LOST}, D.WON: set(), D.LOST: set()}

dispute_machine = StateMachine("dispute", Dispute, TRANSITIONS)
