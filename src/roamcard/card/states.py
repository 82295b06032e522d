"""A card's lifecycle. Suspension (a lost card, fraud) refuses sign-in, settings, top-ups and refunds, but
never emergency help; every change goes through `card_machine`, recorded in `state_transitions`."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Card


class CardStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


TRANSITIONS = {
    CardStatus.ACTIVE: {CardStatus.SUSPENDED},
    CardStatus.SUSPENDED: {CardStatus.ACTIVE},
}

card_machine = StateMachine("card", Card, TRANSITIONS)
