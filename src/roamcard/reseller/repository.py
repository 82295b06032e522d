"""Reads shared by the APIs sold through: the card a seller names, a float's movements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roamcard.auth.service import CARD_COLUMNS, SignedInCard, card_of
from roamcard.kit.sql import Tx
from roamcard.models import LedgerTransfer

_CARD_BY_NUMBER = f"SELECT {CARD_COLUMNS} FROM cards WHERE cards.card_number = :card_number"  # noqa: S608


def card_by_number(tx: Tx, card_number: str) -> SignedInCard | None:
    row = tx.one(_CARD_BY_NUMBER, card_number=card_number)
    return None if row is None else card_of(tx, row)


def float_movements(
    session: Session, account_id: int, start: datetime | None, end: datetime
) -> tuple[int, int]:
    """(credited, debited) on a float account by the transfers made in [start, end) (from the first
    transfer when `start` is None)."""
    window = [LedgerTransfer.created_at < end]
    if start is not None:
        window.append(LedgerTransfer.created_at >= start)
    credited = session.scalar(
        select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
            LedgerTransfer.credit_account_id == account_id, *window
        )
    )
    debited = session.scalar(
        select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
            LedgerTransfer.debit_account_id == account_id, *window
        )
    )
    return int(credited or 0), int(debited or 0)


def float_credits(
    session: Session, account_id: int, start: datetime, end: datetime
) -> Sequence[LedgerTransfer]:
    """The transfers onto a float account in [start, end): money the seller paid us."""
    return session.scalars(
        select(LedgerTransfer)
        .where(
            LedgerTransfer.credit_account_id == account_id,
            LedgerTransfer.created_at >= start,
            LedgerTransfer.created_at < end,
        )
        .order_by(LedgerTransfer.created_at, LedgerTransfer.id)
    ).all()
