"""The recharge card lifecycle: generated -> active -> redeemed, plus blocked and expired."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Voucher


class VoucherStatus(StrEnum):
    GENERATED = "generated"  # printed, worth nothing yet (a stolen box is useless)
    ACTIVE = "active"  # shipped or sold: its value is a liability until redeemed or expired
    REDEEMED = "redeemed"
    BLOCKED = "blocked"  # stolen or withdrawn stock
    EXPIRED = "expired"


V = VoucherStatus
TRANSITIONS = {
    V.GENERATED: {V.ACTIVE, V.BLOCKED, V.EXPIRED},
    V.ACTIVE: {V.REDEEMED, V.BLOCKED, V.EXPIRED},
    V.REDEEMED: set(),
    V.BLOCKED: set(),
    V.EXPIRED: set(),
}

voucher_machine = StateMachine("voucher", Voucher, TRANSITIONS)

LIVE_STATUSES = (V.GENERATED, V.ACTIVE)


class BatchStatus(StrEnum):
    GENERATING = "generating"  # PINs are still being made; nothing in it can be activated
    READY = "ready"


class RangeAction(StrEnum):
    """What a staff or system operation does to a range of serials: the transitions it makes."""

    ACTIVATE = "activate"
    BLOCK = "block"
    EXPIRE = "expire"


RANGE_TRANSITIONS: dict[RangeAction, tuple[tuple[VoucherStatus, ...], VoucherStatus]] = {
    RangeAction.ACTIVATE: ((V.GENERATED,), V.ACTIVE),
    RangeAction.BLOCK: ((V.GENERATED, V.ACTIVE), V.BLOCKED),
    RangeAction.EXPIRE: ((V.GENERATED, V.ACTIVE), V.EXPIRED),
}


class AttemptOutcome(StrEnum):
    REDEEMED = "redeemed"
    WRONG_PIN = "wrong_pin"
    ALREADY_REDEEMED = "already_redeemed"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    NOT_ACTIVATED = "not_activated"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_PROMO_CODE = "wrong_promo_code"  # not a PIN: a promo code that names no campaign (promotion)
    THROTTLED = "throttled"
