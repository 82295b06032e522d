from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.models import Card, CardSession


def get_live_session_card(session: Session, token_hash: str, now: datetime) -> Card | None:
    return session.scalars(
        select(Card)
        .join(CardSession, CardSession.card_id == Card.id)
        .where(
            CardSession.token_hash == token_hash,
            CardSession.expires_at > now,
            CardSession.revoked_at.is_(None),
        )
    ).one_or_none()


def revoke(session: Session, token_hash: str, now: datetime) -> None:
    session.execute(
        update(CardSession)
        .where(CardSession.token_hash == token_hash, CardSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_all_for_card(session: Session, card_id: int, now: datetime) -> int:
    result = session.execute(
        update(CardSession)
        .where(CardSession.card_id == card_id, CardSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
