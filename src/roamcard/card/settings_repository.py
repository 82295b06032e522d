"""Queries behind the card holder's own settings (password, bound phone, language, alert switches)."""

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


ALERT_COLUMNS = (
    Card.alert_pack_usage,
    Card.alert_low_balance,
    Card.alert_pack_expiry,
    Card.alert_new_country,
)


def get_alert_switches(session: Session, card_id: int) -> tuple[bool, bool, bool, bool] | None:
    row = session.execute(select(*ALERT_COLUMNS).where(Card.id == card_id)).first()
    return (bool(row[0]), bool(row[1]), bool(row[2]), bool(row[3])) if row is not None else None


def set_alert_switches(
    session: Session,
    card_id: int,
    *,
    pack_usage: bool,
    low_balance: bool,
    pack_expiry: bool,
    new_country: bool,
) -> None:
    session.execute(
        update(Card)
        .where(Card.id == card_id)
        .values(
            alert_pack_usage=pack_usage,
            alert_low_balance=low_balance,
            alert_pack_expiry=pack_expiry,
            alert_new_country=new_country,
        )
        .execution_options(synchronize_session=False)
    )
