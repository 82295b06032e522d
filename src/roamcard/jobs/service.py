"""What staff do with dead-lettered jobs: run one again with fresh attempts, or discard it for good.

Both are conditional updates on `status = 'dead'` (jobs/repository.py): when two staff act on the same
job at once, one update finds the row dead and changes it, the other finds it no longer dead and gets
`JobNotDead` — a job is never queued twice, nor retried after being discarded. The caller commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.errors import Conflict, NotFound
from roamcard.jobs import outbox, repository
from roamcard.lifecycle import as_tx
from roamcard.models import Job


class JobNotFound(NotFound):
    code = "job_not_found"
    message = "There is no such job."


class JobNotDead(Conflict):
    code = "job_not_dead"
    message = "This job is no longer dead (someone retried or discarded it): reload the page."


def state_of(job: Job) -> str:
    """The state shown to staff: a queued job that has failed before is "retrying"."""
    if job.status == outbox.QUEUED and job.attempts > 0:
        return repository.RETRYING
    return job.status


def get(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound()
    return job


def retry(session: Session, job_id: int) -> Job:
    """Queue a dead job again, due now, with fresh attempts; the worker runs it after commit."""
    job = get(session, job_id)
    if not repository.requeue_dead(session, job_id):
        raise JobNotDead()
    session.refresh(job)
    as_tx(session).after_commit(outbox.wake_workers)
    return job


def discard(session: Session, job_id: int) -> Job:
    """Close a dead job without running it (its last error stays for the record)."""
    job = get(session, job_id)
    if not repository.discard_dead(session, job_id):
        raise JobNotDead()
    session.refresh(job)
    return job
