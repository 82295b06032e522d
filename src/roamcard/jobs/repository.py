from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roamcard.jobs import outbox
from roamcard.kit import clock
from roamcard.models import Job


def list_by_status(session: Session, status: str | None, limit: int) -> Sequence[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return session.scalars(query).all()


def count_by_status(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status))
    }


def requeue_dead(session: Session, job_id: int) -> bool:
    """Give a dead-lettered job a fresh set of attempts (after the cause is fixed)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == outbox.DEAD)
        .values(status=outbox.QUEUED, attempts=0, run_at=clock.now(), finished_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
