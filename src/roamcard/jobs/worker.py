"""The outbox worker: claims due jobs, runs each in its own transaction, retries with backoff,
dead-letters after `max_attempts`.

Claiming writes a lease (`locked_until`); a worker that dies mid-job simply lets the lease run out and
another worker takes the job again. Each handler's effects and the job's `done` mark commit together, and
every handler is idempotent through business keys, so a rerun after any crash is a no-op.

The claim also reads each job's kind and payload. While the batch is young (well inside the lease, by the
injectable clock) nobody else can hold those jobs, so they run without being read again; later in a long
batch the worker re-reads each job and checks that it still holds the lease.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs import outbox, registry
from roamcard.kit import clock
from roamcard.metrics import JOBS
from roamcard.models import Job

log = structlog.get_logger("roamcard.worker")


def backoff_seconds(attempts: int) -> float:
    """Exponential with full jitter, capped at an hour."""
    ceiling: float = min(3600.0, 2.0 ** min(attempts, 12))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Worker:
    def __init__(
        self,
        database: Database,
        *,
        worker_id: str | None = None,
        sweepers: Sequence[Callable[[Database], object]] = (),
        sweep_interval_seconds: float = 5.0,
    ) -> None:
        self.database = database
        self.settings = get_settings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.sweepers = sweepers
        self.sweep_interval_seconds = sweep_interval_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_sweep = 0.0
        # What the last claim read: job id -> (kind, payload), trusted until `_claim_fresh_until`.
        self._claimed: dict[int, tuple[str, dict[str, Any]]] = {}
        self._claim_fresh_until: datetime | None = None

    # -- claiming ---------------------------------------------------------------------------------
    def claim(self, limit: int) -> list[int]:
        now = clock.now()
        lease_until = now + timedelta(seconds=self.settings.job_lease_seconds)
        self._claimed = {}
        with self.database.transaction() as session:
            due = (
                select(Job.id, Job.kind, Job.payload)
                .where(
                    or_(
                        (Job.status == outbox.QUEUED) & (Job.run_at <= now),
                        (Job.status == outbox.RUNNING) & (Job.locked_until < now),
                    )
                )
                .order_by(Job.run_at, Job.id)
                .limit(limit)
            )
            if not self.database.is_sqlite:
                due = due.with_for_update(skip_locked=True)
            rows = session.execute(due).all()
            ids = [row.id for row in rows]
            if ids:
                session.execute(
                    update(Job)
                    .where(Job.id.in_(ids))
                    .values(
                        status=outbox.RUNNING,
                        locked_by=self.worker_id,
                        locked_until=lease_until,
                        attempts=Job.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
        # Committed: these leases are ours. A quarter of the lease leaves a wide margin for clock skew
        # between workers before the claim is checked again.
        self._claimed = {row.id: (row.kind, dict(row.payload)) for row in rows}
        self._claim_fresh_until = now + timedelta(seconds=self.settings.job_lease_seconds / 4)
        return ids

    def _claimed_job(self, job_id: int) -> tuple[str, dict[str, Any]] | None:
        """The job as this worker's fresh claim read it, or None when it must be read (and checked) again."""
        claimed = self._claimed.pop(job_id, None)
        fresh_until = self._claim_fresh_until
        if claimed is None or fresh_until is None or clock.now() >= fresh_until:
            return None
        return claimed

    # -- running ----------------------------------------------------------------------------------
    def run_job(self, job_id: int) -> str:
        """Run one claimed job. Returns its new status."""
        kind = "?"
        try:
            claimed = self._claimed_job(job_id)
            if claimed is not None:
                kind, payload = claimed
            else:
                with self.database.reading() as session:
                    job = session.get(Job, job_id)
                    if job is None or job.status != outbox.RUNNING or job.locked_by != self.worker_id:
                        return "lost"
                    kind, payload = job.kind, dict(job.payload)
            registered = registry.handler_for(kind)
            if registered.external:
                registered.handler(self.database, payload)
                with self.database.transaction() as session:
                    self._mark_done(session, job_id)
            else:
                with self.database.transaction() as session:
                    registered.handler(session, payload)
                    self._mark_done(session, job_id)
            JOBS.labels(kind, "done").inc()
            return outbox.DONE
        except _LeaseLost:
            return "lost"
        except Exception as exc:
            status = self._record_failure(job_id, kind, exc)
            JOBS.labels(kind, "dead" if status == outbox.DEAD else "retry").inc()
            return status

    def _mark_done(self, session: Session, job_id: int) -> None:
        finished = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == outbox.RUNNING, Job.locked_by == self.worker_id)
            .values(status=outbox.DONE, finished_at=clock.now(), locked_until=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
        if finished.rowcount != 1:  # type: ignore[attr-defined]
            # Our lease ran out and another worker owns the job now: undo, it will do the work.
            raise _LeaseLost()

    def _record_failure(self, job_id: int, kind: str, exc: Exception) -> str:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with self.database.transaction() as session:
            job = session.get(Job, job_id)
            if job is None or job.locked_by != self.worker_id:
                return "lost"
            if job.attempts >= job.max_attempts:
                job.status = outbox.DEAD
                job.finished_at = clock.now()
                log.error("job.dead_lettered", job_id=job_id, kind=kind, attempts=job.attempts, error=error)
            else:
                job.status = outbox.QUEUED
                job.run_at = clock.now() + timedelta(seconds=backoff_seconds(job.attempts))
                log.warning("job.retry", job_id=job_id, kind=kind, attempts=job.attempts, error=error)
            job.locked_until = None
            job.last_error = error
            return job.status

    def run_once(self, limit: int | None = None) -> int:
        """Claim and run one batch. Returns how many jobs ran."""
        ids = self.claim(limit or self.settings.job_batch_size)
        for job_id in ids:
            self.run_job(job_id)
        return len(ids)

    def drain(self, max_rounds: int = 100) -> int:
        """Run until nothing is due (tests and `roamcard worker --once`)."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            total += ran
            if ran == 0:
                break
        return total

    # -- loop -------------------------------------------------------------------------------------
    def sweep_if_due(self) -> None:
        now = clock.now().timestamp()
        if now - self._last_sweep < self.sweep_interval_seconds:
            return
        self._last_sweep = now
        for sweeper in self.sweepers:
            try:
                sweeper(self.database)
            except Exception:
                log.exception("sweeper.failed", sweeper=getattr(sweeper, "__name__", repr(sweeper)))

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        outbox.register_wakeup(self.wake)
        log.info("worker.started", worker_id=self.worker_id)
        try:
            while not self._stop.is_set():
                try:
                    self.sweep_if_due()
                    ran = self.run_once()
                except Exception:
                    log.exception("worker.loop_error")
                    ran = 0
                if ran == 0:
                    self._wake.wait(self.settings.job_poll_interval_seconds)
                    self._wake.clear()
        finally:
            outbox.unregister_wakeup(self.wake)
            log.info("worker.stopped", worker_id=self.worker_id)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="roamcard-worker", daemon=True)
        thread.start()
        return thread


class _LeaseLost(Exception):
    pass
