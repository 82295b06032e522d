from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import Card


def get_card_by_number(session: Session, card_number: str) -> Card | None:
    return session.scalars(
        select(Card).where(Card.card_number == card_number).execution_options(populate_existing=True)
    ).one_or_none()


# Provisional cards of card orders (not paid yet, or lapsed unpaid) are no cards anyone holds: a search
# by phone leaves them out (they have no card number anyone knows either: `o…` until paid).
PROVISIONAL = ("ordered", "lapsed")


def list_cards_by_phone(session: Session, phone: str, limit: int = 20) -> Sequence[Card]:
    return session.scalars(
        select(Card)
        .where(Card.phone == phone, Card.status.not_in(PROVISIONAL))
        .order_by(Card.id)
        .limit(limit)
    ).all()
