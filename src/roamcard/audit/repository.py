from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    """Every field optional; `since` inclusive, `until` exclusive (UTC)."""

    staff_email: str | None = None
    action: str | None = None
    card_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(
    session: Session, filters: AuditFilter, *, limit: int, before_id: int | None = None
) -> Sequence[AuditEntry]:
    """Newest first; `before_id` continues after the last row of the previous page."""
    query = select(AuditEntry)
    if filters.staff_email:
        query = query.where(AuditEntry.staff_email == filters.staff_email.strip().lower())
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.card_id is not None:
        query = query.where(AuditEntry.card_id == filters.card_id)
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.at < filters.until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all()


def list_actions(session: Session) -> Sequence[str]:
    return session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all()
