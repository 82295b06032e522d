from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roamcard.models import Dispute


def get_by_reference(session: Session, provider: str, reference: str) -> Dispute | None:
    return session.scalars(
        select(Dispute).where(Dispute.provider == provider, Dispute.provider_reference == reference)
    ).one_or_none()


def count_holding(session: Session, card_id: int) -> int:
    """Disputes on this card whose hold staff have not lifted yet."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Dispute)
            .where(Dispute.card_id == card_id, Dispute.hold_released_at.is_(None))
        )
        or 0
    )


def list_recent(session: Session, limit: int = 200) -> Sequence[Dispute]:
    """Undecided first (hold still on), then the newest."""
    return session.scalars(
        select(Dispute)
        .order_by(Dispute.hold_released_at.is_not(None), Dispute.created_at.desc())
        .limit(limit)
    ).all()
