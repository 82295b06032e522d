"""A card's lifecycle. Suspension (a lost card, fraud) refuses sign-in, settings, top-ups and refunds, but
never emergency help; every change goes through `card_machine`, recorded in `state_transitions`.

Validity (保号, card/validity.py): an active card whose validity date passed is `expired`: no usage but
emergency, while sign-in and recharge still work; a recharge makes it `active` again. After the grace
period it is `closed` (balance to breakage, its number quarantined). A holder may close it themselves."""

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
    # Closed: a cancelled card order, a card whose grace period ran out, or closed by its holder. Final.
    CLOSED = "closed"
    # Its validity date passed without a recharge: emergency only; sign-in and recharge still possible
    # for ROAMCARD_GRACE_DAYS, and a recharge makes it active again.
    EXPIRED = "expired"


TRANSITIONS = {
    CardStatus.ACTIVE: {CardStatus.SUSPENDED, CardStatus.CLOSED, CardStatus.EXPIRED},
    CardStatus.SUSPENDED: {CardStatus.ACTIVE, CardStatus.CLOSED},
    CardStatus.ORDERED: {CardStatus.ACTIVE, CardStatus.LAPSED},
    CardStatus.LAPSED: set(),
    CardStatus.CLOSED: set(),
    CardStatus.EXPIRED: {CardStatus.ACTIVE, CardStatus.CLOSED},
}
# The statuses in which a card holder may sign in and recharge (an expired card in its grace period).
RECHARGEABLE = (CardStatus.ACTIVE, CardStatus.EXPIRED)

card_machine = StateMachine("card", Card, TRANSITIONS)
