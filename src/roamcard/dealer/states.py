"""The dealer lifecycle: active <-> suspended, through the state machine (history in state_transitions,
keyed by the dealer's public id)."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Dealer


class DealerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # its POS requests are refused; its float stays as it is


TRANSITIONS = {
    DealerStatus.ACTIVE: {DealerStatus.SUSPENDED},
    DealerStatus.SUSPENDED: {DealerStatus.ACTIVE},
}

dealer_machine = StateMachine("dealer", Dealer, TRANSITIONS, id_attribute="public_id")


class SaleKind(StrEnum):
    TOPUP = "topup"  # a card topped up directly at the till
    VOUCHER = "voucher"  # a recharge card sold (activated) at the till
