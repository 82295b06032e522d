"""The outbox worker: claims due jobs, runs each in its own transaction, retries with backoff,
dead-letters after `max_attempts`.

Claiming writes a lease (`locked_until`); a worker that dies mid-job simply lets the lease run out and
another worker takes the job again. Each handler's effects and the job's `done` mark commit together, and
every handler is idempotent through business keys, so a rerun after any crash is a no-op.

An attempt is counted when a handler starts, not when a job is claimed: just before each handler, one
conditional UPDATE checks that this worker still holds the job, renews its lease and adds the attempt
(riding on the previous job's own final transaction where there is one, so it costs no extra commit). A
job claimed in a batch whose lease ran out before its turn, and that another worker took meanwhile, is
skipped without spending one of its attempts. While an `@external_job` waits on the outside world, a
heartbeat thread renews the leases of every job this worker holds, so a long call loses neither its own
job nor the rest of its batch.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
        heartbeat_interval_seconds: float | None = None,
    ) -> None:
        self.database = database
        self.settings = get_settings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.sweepers = sweepers
        self.sweep_interval_seconds = sweep_interval_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_sweep = 0.0
        # What the last claim read: job id -> (kind, payload) (a job's kind and payload never change).
        self._claimed: dict[int, tuple[str, dict[str, Any]]] = {}
        # Jobs whose attempt is counted and lease renewed by a committed transaction, ready to start.
        self._started: set[int] = set()
        lease = self.settings.job_lease_seconds
        self.heartbeat_interval_seconds = heartbeat_interval_seconds or lease / 3
        self.heartbeat_beat = threading.Event()  # set after each heartbeat (tests wait on it)

    # -- claiming ---------------------------------------------------------------------------------
    def claim(self, limit: int) -> list[int]:
        """Lease up to `limit` due jobs. The first is also started (its attempt counted) in the same
        transaction; the others are started one by one, just before their turn."""
        now = clock.now()
        lease_until = self._lease_from(now)
        self._claimed = {}
        self._started = set()
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
                    .values(status=outbox.RUNNING, locked_by=self.worker_id, locked_until=lease_until)
                    .execution_options(synchronize_session=False)
                )
                first_started = self._mark_started(session, ids[0])
        # Committed: these leases are ours.
        self._claimed = {row.id: (row.kind, dict(row.payload)) for row in rows}
        if ids and first_started:
            self._started.add(ids[0])
        return ids

    def _lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.job_lease_seconds)

    def _mark_started(self, session: Session, job_id: int) -> bool:
        """Count an attempt and renew the lease, if this worker still holds the job. Takes effect when the
        surrounding transaction commits."""
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == outbox.RUNNING, Job.locked_by == self.worker_id)
            .values(attempts=Job.attempts + 1, locked_until=self._lease_from(clock.now()))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _start(self, job_id: int) -> bool:
        if job_id in self._started:
            self._started.discard(job_id)
            return True
        with self.database.transaction() as session:
            return self._mark_started(session, job_id)

    def _job_of(self, job_id: int) -> tuple[str, dict[str, Any]] | None:
        claimed = self._claimed.pop(job_id, None)
        if claimed is not None:
            return claimed
        with self.database.reading() as session:
            job = session.get(Job, job_id)
            return None if job is None else (job.kind, dict(job.payload))

    # -- running ----------------------------------------------------------------------------------
    def run_job(self, job_id: int, *, next_job_id: int | None = None) -> str:
        """Run one claimed job. Returns its new status ("lost" when another worker holds it now).
        `next_job_id`: the job to run after this one, started in this job's final transaction."""
        kind = "?"
        try:
            found = self._job_of(job_id)
            if found is None or not self._start(job_id):
                return "lost"
            kind, payload = found
            registered = registry.handler_for(kind)
            if registered.external:
                with self._heartbeat():
                    registered.handler(self.database, payload)
                with self.database.transaction() as session:
                    self._mark_done(session, job_id)
                    next_started = next_job_id is not None and self._mark_started(session, next_job_id)
            else:
                with self.database.transaction() as session:
                    registered.handler(session, payload)
                    self._mark_done(session, job_id)
                    next_started = next_job_id is not None and self._mark_started(session, next_job_id)
            if next_started and next_job_id is not None:
                self._started.add(next_job_id)
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

    def extend_leases(self) -> int:
        """Renew the lease of every job this worker holds (the heartbeat). Returns how many."""
        with self.database.transaction() as session:
            result = session.execute(
                update(Job)
                .where(Job.status == outbox.RUNNING, Job.locked_by == self.worker_id)
                .values(locked_until=self._lease_from(clock.now()))
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """Renew this worker's leases every `heartbeat_interval_seconds` until the block ends."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_interval_seconds):
                try:
                    self.extend_leases()
                except Exception:  # the next beat tries again; the lease still has time
                    log.exception("worker.heartbeat_failed", worker_id=self.worker_id)
                self.heartbeat_beat.set()

        thread = threading.Thread(target=beat, name="roamcard-worker-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

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
        for index, job_id in enumerate(ids):
            self.run_job(job_id, next_job_id=ids[index + 1] if index + 1 < len(ids) else None)
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
