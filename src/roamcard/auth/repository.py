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


def revoke_sessions(
    session: Session, card_id: int, now: datetime, *, keep_token_hash: str | None = None
) -> int:
    """End every live session of the card, except the one whose token hash is `keep_token_hash`."""
    query = update(CardSession).where(CardSession.card_id == card_id, CardSession.revoked_at.is_(None))
    if keep_token_hash is not None:
        query = query.where(CardSession.token_hash != keep_token_hash)
    result = session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
