from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import Card


def get_card_by_number(session: Session, card_number: str) -> Card | None:
    return session.scalars(
        select(Card).where(Card.card_number == card_number).execution_options(populate_existing=True)
    ).one_or_none()


def list_cards_by_phone(session: Session, phone: str, limit: int = 20) -> Sequence[Card]:
    return session.scalars(select(Card).where(Card.phone == phone).order_by(Card.id).limit(limit)).all()
