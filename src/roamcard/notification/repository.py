from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.models import Notification


def list_for_card(session: Session, card_id: int, limit: int = 50) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.card_id == card_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()


def get_by_key(session: Session, key: str) -> Notification | None:
    return session.scalars(select(Notification).where(Notification.key == key)).one_or_none()


def get_by_provider_reference(session: Session, provider: str, reference: str) -> Notification | None:
    return session.scalars(
        select(Notification).where(
            Notification.provider == provider, Notification.provider_reference == reference
        )
    ).first()


def oldest_unknown_to(session: Session, provider: str, phone: str) -> Notification | None:
    """An SMPP receipt for an id we never learned (the session died before submit_sm_resp)."""
    return session.scalars(
        select(Notification)
        .where(
            Notification.provider == provider, Notification.phone == phone, Notification.status == "unknown"
        )
        .order_by(Notification.attempt_started_at, Notification.id)
    ).first()


def mark_secret_shown(session: Session, notification_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.secret_shown_at.is_(None))
        .values(secret_shown_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def delete_secret(session: Session, notification_id: int) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(secret=None)
        .execution_options(synchronize_session=False)
    )


def list_stuck_sending(
    session: Session, started_before: datetime, limit: int = 100
) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.status == "sending", Notification.attempt_started_at < started_before)
        .limit(limit)
    ).all()


def list_waiting_since(
    session: Session, started_before: datetime, limit: int = 100
) -> Sequence[Notification]:
    """Sent or unknown messages older than the shorter of the two give-up times: candidates to expire."""
    return session.scalars(
        select(Notification)
        .where(
            Notification.status.in_(("sent", "unknown")),
            Notification.attempt_started_at < started_before,
        )
        .limit(limit)
    ).all()
