from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from roamcard.models import Card


def get_by_card_number(session: Session, card_number: str) -> Card | None:
    return session.scalars(select(Card).where(Card.card_number == card_number)).one_or_none()


def record_failed_login(session: Session, card_id: int, max_failures: int, locked_until: datetime) -> None:
    """Count a failure; the one that reaches `max_failures` sets the lock-out and restarts the count."""
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(
            locked_until=case(
                (Card.failed_logins + 1 >= max_failures, locked_until), else_=Card.locked_until
            ),
            failed_logins=case((Card.failed_logins + 1 >= max_failures, 0), else_=Card.failed_logins + 1),
        )
        .execution_options(synchronize_session=False)
    )


def clear_failed_logins(session: Session, card_id: int) -> None:
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
