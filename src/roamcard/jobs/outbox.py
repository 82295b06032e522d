"""Write a job in the caller's transaction; it runs only if that transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.db import insert_ignoring_conflict
from roamcard.kit import clock
from roamcard.models import Job

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
DEAD = "dead"

_wakeups: list[Any] = []


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> bool:
    """False when a job with the same `dedupe_key` already exists."""
    now = clock.now()
    inserted = insert_ignoring_conflict(
        session,
        Job,
        {
            "kind": kind,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "status": QUEUED,
            "attempts": 0,
            "max_attempts": max_attempts or get_settings().job_max_attempts,
            "run_at": run_at or now,
            "created_at": now,
        },
    )
    if inserted and run_at is None:
        session.info["roamcard_wake_worker"] = True
    return inserted


def register_wakeup(callback: Any) -> None:
    """An in-process worker asks to be poked after a commit that queued work, instead of waiting a poll."""
    _wakeups.append(callback)


def unregister_wakeup(callback: Any) -> None:
    if callback in _wakeups:
        _wakeups.remove(callback)


def wake_workers() -> None:
    for callback in list(_wakeups):
        callback()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop("roamcard_wake_worker", False):
        wake_workers()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("roamcard_wake_worker", None)
