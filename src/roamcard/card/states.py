"""A card's lifecycle. Suspension (a lost card, fraud) refuses sign-in, settings, top-ups and refunds, but
never emergency help; every change goes through `card_machine`, recorded in `state_transitions`."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Card


class CardStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    # Bought online, not paid yet: holds its reserved eSIM profile; no password anyone knows, no sign-in.
    ORDERED = "ordered"
    # Its order lapsed unpaid: the profile went back to stock; never used again.
    LAPSED = "lapsed"
    # Its card order was cancelled before the eSIM was installed (refunded): never used again.
    CLOSED = "closed"


TRANSITIONS = {
    CardStatus.ACTIVE: {CardStatus.SUSPENDED, CardStatus.CLOSED},
    CardStatus.SUSPENDED: {CardStatus.ACTIVE, CardStatus.CLOSED},
    CardStatus.ORDERED: {CardStatus.ACTIVE, CardStatus.LAPSED},
    CardStatus.LAPSED: set(),
    CardStatus.CLOSED: set(),
}

card_machine = StateMachine("card", Card, TRANSITIONS)
