from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import IvrCall


def get_for_update(session: Session, call_sid: str) -> IvrCall | None:
    """The call's row, locked until the end of this step (PostgreSQL; SQLite writers are serial anyway),
    so a retried webhook cannot run the same step twice at once."""
    return session.scalars(
        select(IvrCall)
        .where(IvrCall.call_sid == call_sid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def get(session: Session, call_sid: str) -> IvrCall | None:
    """The call's row, unlocked (to read where the call is before its step's transaction)."""
    return session.scalars(select(IvrCall).where(IvrCall.call_sid == call_sid)).one_or_none()
