"""Write a job in the caller's transaction; it runs only if that transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
DEAD = "dead"
# A dead job a staff member chose not to run again (back office, audited with the reason): terminal.
DISCARDED = "discarded"

_wakeups: list[Callable[[], None]] = []

_INSERT = (
    "INSERT INTO jobs (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at) "
    "VALUES (:kind, :payload, :dedupe_key, 'queued', 0, :max_attempts, :run_at, :now) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


# `enqueue`'s row as one step of a PostgreSQL data-modifying CTE: one job, due now, for each row of the
# CTE named `{rows}`, with the parameters of `job_params` and `:now`. The caller registers
# `wake_workers` after commit when a job went in.
_INSERT_FOR_EACH = (
    "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at) "
    "SELECT :job_kind, :job_payload, 'queued', 0, :job_max_attempts, {run_at}, :now FROM {rows}"
)
INSERT_FOR_EACH = _INSERT_FOR_EACH.replace("{run_at}", ":now")
# The same, due at `:job_run_at` (a later check); no wake-up is due.
INSERT_FOR_EACH_AT = _INSERT_FOR_EACH.replace("{run_at}", ":job_run_at")


def job_params(tx: Tx, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_kind": kind,
        "job_payload": tx.json(payload),
        "job_max_attempts": get_settings().job_max_attempts,
    }


def enqueue(
    db: Session | Tx,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> bool:
    """False when a job with the same `dedupe_key` already exists. A job due now pokes the in-process
    worker once the transaction commits."""
    tx = as_tx(db)
    now = clock.now()
    inserted = (
        tx.one(
            _INSERT,
            kind=kind,
            payload=tx.json(payload),
            dedupe_key=dedupe_key,
            max_attempts=max_attempts or get_settings().job_max_attempts,
            run_at=run_at or now,
            now=now,
        )
        is not None
    )
    if inserted and run_at is None:
        tx.after_commit(wake_workers)
    return inserted


def register_wakeup(callback: Callable[[], None]) -> None:
    """An in-process worker asks to be poked after a commit that queued work, instead of waiting a poll."""
    _wakeups.append(callback)


def unregister_wakeup(callback: Callable[[], None]) -> None:
    if callback in _wakeups:
        _wakeups.remove(callback)


def wake_workers() -> None:
    for callback in list(_wakeups):
        callback()
