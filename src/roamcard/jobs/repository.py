from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# What the back office calls "retrying": queued again after at least one failed attempt.
RETRYING = "retrying"
STATES = (outbox.QUEUED, RETRYING, outbox.RUNNING, outbox.DEAD, outbox.DONE, outbox.DISCARDED)


@dataclass(frozen=True)
class JobFilter:
    state: str | None = None  # one of STATES
    kind: str | None = None


def search(session: Session, filters: JobFilter, *, before_id: int | None, limit: int) -> Sequence[Job]:
    """Newest first, `limit` rows below `before_id` (keyset paging)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if filters.state == RETRYING:
        query = query.where(Job.status == outbox.QUEUED, Job.attempts > 0)
    elif filters.state == outbox.QUEUED:
        query = query.where(Job.status == outbox.QUEUED, Job.attempts == 0)
    elif filters.state:
        query = query.where(Job.status == filters.state)
    if filters.kind:
        query = query.where(Job.kind == filters.kind)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    return session.scalars(query).all()


def list_kinds(session: Session) -> list[str]:
    return list(session.scalars(select(Job.kind).distinct().order_by(Job.kind)))


def discard_dead(session: Session, job_id: int) -> bool:
    """Close a dead-lettered job for good; False when it is no longer dead (retried or discarded)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == outbox.DEAD)
        .values(status=outbox.DISCARDED, finished_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
