"""Queries behind the card holder's own settings (password, bound phone, language)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roamcard.models import Card, PhoneChange


def set_password_hash(session: Session, card_id: int, password_hash: str) -> None:
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(password_hash=password_hash)
        .execution_options(synchronize_session=False)
    )


def set_language(session: Session, card_id: int, language: str) -> None:
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(language=language)
        .execution_options(synchronize_session=False)
    )


def set_phone(session: Session, card_id: int, phone: str) -> None:
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(phone=phone)
        .execution_options(synchronize_session=False)
    )


def count_phone_changes_since(session: Session, card_id: int, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PhoneChange)
            .where(PhoneChange.card_id == card_id, PhoneChange.created_at >= since)
        )
        or 0
    )


def supersede_open_phone_changes(session: Session, card_id: int, now: datetime) -> None:
    session.execute(
        update(PhoneChange)
        .where(
            PhoneChange.card_id == card_id,
            PhoneChange.confirmed_at.is_(None),
            PhoneChange.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )


def get_open_phone_change(session: Session, card_id: int) -> PhoneChange | None:
    """The latest request that is neither confirmed nor replaced (it may have expired or run out of tries)."""
    return session.scalars(
        select(PhoneChange)
        .where(
            PhoneChange.card_id == card_id,
            PhoneChange.confirmed_at.is_(None),
            PhoneChange.superseded_at.is_(None),
        )
        .order_by(PhoneChange.created_at.desc(), PhoneChange.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()


def count_wrong_code(session: Session, change_id: int, max_attempts: int) -> int | None:
    """Spend one try; None when no try was left. Returns the tries used so far."""
    result = session.execute(
        update(PhoneChange)
        .where(
            PhoneChange.id == change_id,
            PhoneChange.attempts < max_attempts,
            PhoneChange.confirmed_at.is_(None),
        )
        .values(attempts=PhoneChange.attempts + 1)
        .returning(PhoneChange.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    return int(result[0]) if result is not None else None


def mark_phone_change_confirmed(session: Session, change_id: int, max_attempts: int, now: datetime) -> bool:
    result = session.execute(
        update(PhoneChange)
        .where(
            PhoneChange.id == change_id,
            PhoneChange.confirmed_at.is_(None),
            PhoneChange.superseded_at.is_(None),
            PhoneChange.attempts < max_attempts,
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
