from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.models import Card


def get_card_by_number(session: Session, card_number: str) -> Card | None:
    return session.scalars(
        select(Card).where(Card.card_number == card_number).execution_options(populate_existing=True)
    ).one_or_none()


def list_cards_by_phone(session: Session, phone: str, limit: int = 20) -> Sequence[Card]:
    return session.scalars(select(Card).where(Card.phone == phone).order_by(Card.id).limit(limit)).all()


def claim_status(session: Session, card_id: int, source: str, target: str) -> bool:
    """`UPDATE … SET status=:target WHERE id=:id AND status=:source`: True when this call changed it."""
    result = session.execute(
        update(Card)
        .where(Card.id == card_id, Card.status == source)
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
