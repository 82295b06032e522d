"""Redeem a recharge card's PIN on a card: the one service every channel calls (API, portal, IVR)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.models import Card, TopupOrder
from roamcard.topup.states import Channel


def redeem(session: Session, card: Card, pin: str, *, channel: Channel, client_key: str) -> TopupOrder:
    """Redeem `pin` on `card`; returns the fulfilled top-up order (payment method `voucher`).

    `channel` is where the holder is (API/app: `Channel.VOUCHER`, IVR: `Channel.IVR`); `client_key`
    identifies the caller for the brute-force limit (client IP, or the caller's phone / CallSid).
    Raises `AppError` subclasses; each has `keeps_changes = True` (the attempt is recorded), so the edge
    must commit, not roll back, on them.
    """
    raise NotImplementedError("voucher redemption is being built (issue 5)")
