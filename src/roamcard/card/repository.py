from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import Card


def get_by_card_number(session: Session, card_number: str) -> Card | None:
    return session.scalars(select(Card).where(Card.card_number == card_number)).one_or_none()
