"""The outbox worker: claims due jobs in batches, runs a batch with one commit (group commit), retries
with backoff, dead-letters after `max_attempts`.

Claiming is one statement on PostgreSQL (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
RETURNING`, committed on its own) and a SELECT and an UPDATE under the writer lock on SQLite. It writes a
lease (`locked_until`) and commits before any handler runs: a worker that dies simply lets its leases run
out and another worker takes the jobs again.

A group of claimed jobs runs in ONE lean transaction (`Database.job_transaction()`: handlers get its
`Tx`; one that needs the ORM asks `session_of(tx)` for a session bound to the same transaction, ended with
its job), each job in its own savepoint (`Tx.savepoint()`) together with its `done` mark: a job that
raises undoes only its own writes, its failure (retry with backoff, or dead letter) is recorded in the
same transaction, and the group commits once. Exactly-once never rests on the batch:
every handler is idempotent through business keys, so a rerun after any crash is a no-op.

A group is bounded by count (the claim's limit) and by time (`GROUP_SECONDS`): every row a job locks (an
order, a card, its wallet) stays locked until the group commits, so a hot card's next request or job waits
behind at most one short group, not behind a whole batch of other cards' work. On SQLite the open group
holds the database's single writer lock, which every writing request waits for: the same bound keeps that
wait short. A group holds the locks of several jobs at once, so two workers' groups can lock two cards in
opposite orders; PostgreSQL then fails one job's statement as a deadlock, that job's savepoint rolls back
and it is retried after its backoff like any failure (the others of both groups commit).

An attempt is counted when a handler starts: a conditional UPDATE checks that this worker still holds the
job, renews its lease and adds the attempt just before the handler (outside its savepoint, so a failure
keeps it). The claim counts the first job's attempt as it commits, so a job that kills the process spends
one. A crash in the middle of a group loses, with the group's effects, the attempts of the other jobs it
had started; those jobs come back with an expired lease, and a job taken over from an expired lease runs
alone (its attempt committed before its handler), so a job that kills its worker is found out by itself
and does not spend the attempts of the batch around it. A job claimed but never started keeps its
attempts.

A batch runs its group first and its lone jobs after: jobs of one batch are independent (each is due and
idempotent), so one external job in the middle of a batch does not split the rest into two groups.
External jobs (`@external_job`) call the outside world: they run outside any transaction, up to
`job_external_concurrency` side by side (an SMS provider's call takes a tenth of a second; one at a time
would cap a worker at a few messages a second), while a heartbeat thread renews the leases of every job
this worker holds, so a long call loses neither its own job nor the rest of its batch.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import structlog

from roamcard.config import get_settings
from roamcard.db import Database, session_scope
from roamcard.jobs import outbox, registry
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.metrics import JOBS

log = structlog.get_logger("roamcard.worker")

# A group commits once it has run this long (see the module docstring: row locks and SQLite's writer lock).
GROUP_SECONDS = 0.020

# The f-strings below join only these constants (hence the S608 waivers).
_DUE = (
    "(status = 'queued' AND run_at <= :now) OR (status = 'running' AND locked_until < :now) "
    "ORDER BY run_at, id LIMIT :limit"
)
# One round trip: lease the due jobs, count the first one's attempt, return what the batch needs (the
# status before the claim tells a job taken over from an expired lease).
_CLAIM_POSTGRES = (
    f"WITH due AS (SELECT id, status, run_at FROM jobs WHERE {_DUE} FOR UPDATE SKIP LOCKED), "  # noqa: S608
    "head AS (SELECT id FROM due ORDER BY run_at, id LIMIT 1) "
    "UPDATE jobs SET status = 'running', locked_by = :worker, locked_until = :lease, "
    "attempts = jobs.attempts + CASE WHEN jobs.id = (SELECT id FROM head) THEN 1 ELSE 0 END "
    "FROM due WHERE jobs.id = due.id "
    "RETURNING jobs.id, jobs.kind, jobs.payload, due.status, jobs.run_at"
)
# SQLite: both under the writer lock, so the UPDATE's subquery picks exactly the rows the SELECT read.
_DUE_SQLITE = f"SELECT id, kind, payload, status, run_at FROM jobs WHERE {_DUE}"  # noqa: S608
_CLAIM_SQLITE = (
    "UPDATE jobs SET status = 'running', locked_by = :worker, locked_until = :lease, "  # noqa: S608
    "attempts = attempts + (id = :head) "
    f"WHERE id IN (SELECT id FROM jobs WHERE {_DUE})"
)
_START = (
    "UPDATE jobs SET attempts = attempts + 1, locked_until = :lease "
    "WHERE id = :id AND status = 'running' AND locked_by = :worker"
)
_DONE = (
    "UPDATE jobs SET status = 'done', finished_at = :now, locked_until = NULL, last_error = NULL "
    "WHERE id = :id AND status = 'running' AND locked_by = :worker"
)
_HELD = "SELECT attempts, max_attempts FROM jobs WHERE id = :id AND locked_by = :worker"
_FAILED = (
    "UPDATE jobs SET status = :status, run_at = COALESCE(:run_at, run_at), finished_at = :finished_at, "
    "locked_until = NULL, last_error = :error WHERE id = :id"
)
_EXTEND = "UPDATE jobs SET locked_until = :lease WHERE status = 'running' AND locked_by = :worker"
_KIND_AND_PAYLOAD = "SELECT kind, payload FROM jobs WHERE id = :id"


def _lost_a_lock_race(exc: BaseException) -> bool:
    """PostgreSQL undid the statement to break a deadlock, or a serialisation conflict (SQLSTATE 40P01,
    40001), whether it came from the driver or wrapped by SQLAlchemy."""
    cause = getattr(exc, "orig", None) or exc
    return getattr(cause, "sqlstate", None) in ("40P01", "40001")


def backoff_seconds(attempts: int) -> float:
    """Exponential with full jitter, capped at an hour."""
    ceiling: float = min(3600.0, 2.0 ** min(attempts, 12))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _is_external(kind: str) -> bool:
    try:
        return registry.handler_for(kind).external
    except registry.UnknownJobKind:
        return False  # fails in its group, recorded like any failure


_OUTCOMES = {outbox.DONE: "done", outbox.QUEUED: "retry", outbox.DEAD: "dead"}


def _count(kind: str, status: str) -> None:
    outcome = _OUTCOMES.get(status)  # a job lost to another worker is that worker's to count
    if outcome is not None:
        JOBS.labels(kind, outcome).inc()


class _Claimed(NamedTuple):
    kind: str
    payload: dict[str, Any]
    alone: bool  # runs in its own transaction: an external job, or one taken over from an expired lease


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
        # What the last claim read (a job's kind and payload never change).
        self._claimed: dict[int, _Claimed] = {}
        # Jobs whose attempt is counted and lease renewed by a committed transaction, ready to start.
        self._started: set[int] = set()
        lease = self.settings.job_lease_seconds
        self.heartbeat_interval_seconds = heartbeat_interval_seconds or lease / 3
        self.heartbeat_beat = threading.Event()  # set after each heartbeat (tests wait on it)

    # -- claiming ---------------------------------------------------------------------------------
    def claim(self, limit: int) -> list[int]:
        """Lease up to `limit` due jobs, in the order they fall due. The first is also started (its
        attempt counted) by the claim; the others are started just before their turn."""
        now = clock.now()
        params: dict[str, Any] = {
            "now": now,
            "limit": limit,
            "worker": self.worker_id,
            "lease": self._lease_from(now),
        }
        self._claimed = {}
        self._started = set()
        if self.database.is_sqlite:
            with self.database.tx() as tx:
                rows = tx.all(_DUE_SQLITE, **params)
                if rows:
                    tx.run(_CLAIM_SQLITE, head=rows[0][0], **params)
        else:
            with self.database.autocommit() as tx:
                rows = tx.all(_CLAIM_POSTGRES, **params)
            rows.sort(key=lambda row: (tx.dt(row[4]), row[0]))  # RETURNING keeps no order
        # Committed: these leases are ours.
        for job_id, kind, payload, status, _run_at in rows:
            self._claimed[job_id] = _Claimed(
                kind, dict(tx.loads(payload)), _is_external(kind) or status == outbox.RUNNING
            )
        ids = [row[0] for row in rows]
        if ids:
            self._started.add(ids[0])
        return ids

    def _lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.job_lease_seconds)

    def _mark_started(self, tx: Tx, job_id: int) -> bool:
        """Count an attempt and renew the lease, if this worker still holds the job. Takes effect when the
        surrounding transaction commits."""
        return tx.run(_START, id=job_id, worker=self.worker_id, lease=self._lease_from(clock.now())) == 1

    def _start(self, job_id: int) -> bool:
        if job_id in self._started:
            self._started.discard(job_id)
            return True
        with self.database.autocommit() as tx:  # one conditional UPDATE: no BEGIN and COMMIT around it
            return self._mark_started(tx, job_id)

    def _job_of(self, job_id: int) -> tuple[str, dict[str, Any]] | None:
        claimed = self._claimed.pop(job_id, None)
        if claimed is not None:
            return claimed.kind, claimed.payload
        with self.database.autocommit() as tx:
            row = tx.one(_KIND_AND_PAYLOAD, id=job_id)
            return None if row is None else (row[0], dict(tx.loads(row[1])))

    # -- running ----------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> int:
        """Claim and run one batch. Returns how many jobs ran."""
        claimed_ids = self.claim(limit or self.settings.job_batch_size)
        grouped = [job_id for job_id in claimed_ids if not self._claimed[job_id].alone]
        alone = [job_id for job_id in claimed_ids if self._claimed[job_id].alone]
        ids = grouped + alone
        index = 0
        while index < len(grouped):
            after = self._run_group(ids, index)
            if after == index:
                break  # the group could not commit: its jobs now run alone, below
            index = after
        external = [job_id for job_id in ids[index:] if _is_external(self._claimed[job_id].kind)]
        for job_id in ids[index:]:
            if job_id not in external:
                self.run_job(job_id)
        self._run_external(external)
        return len(ids)

    def _run_external(self, ids: list[int]) -> None:
        """External jobs side by side, under one heartbeat; each starts and ends with one statement."""
        if not ids:
            return
        with self._heartbeat():
            if len(ids) == 1 or self.settings.job_external_concurrency <= 1:
                for job_id in ids:
                    self.run_job(job_id, heartbeat=False)
                return
            workers = min(len(ids), self.settings.job_external_concurrency)
            with ThreadPoolExecutor(workers, thread_name_prefix="roamcard-external") as pool:
                for _ in pool.map(lambda job_id: self.run_job(job_id, heartbeat=False), ids):
                    pass

    def _run_group(self, ids: list[int], first: int) -> int:
        """Run the jobs from `ids[first]` on in one transaction, until a job that runs alone, the end of
        the batch, or `GROUP_SECONDS`. Returns the index of the first job left for later."""
        deadline = time.monotonic() + GROUP_SECONDS
        group: list[tuple[int, _Claimed, bool]] = []  # job, what the claim read, started before the group
        outcomes: list[tuple[str, str]] = []
        index = first
        next_started = False
        try:
            with self.database.job_transaction() as tx:
                while index < len(ids):
                    job_id = ids[index]
                    claimed = self._claimed.get(job_id)
                    if claimed is None or claimed.alone:
                        # It runs next, alone: start it here, so the commit of the group counts it
                        # (unless the claim already did: a batch runs its lone jobs after its group).
                        if job_id not in self._started:
                            next_started = self._mark_started(tx, job_id)
                        break
                    del self._claimed[job_id]
                    pre_started = job_id in self._started
                    self._started.discard(job_id)
                    group.append((job_id, claimed, pre_started))
                    index += 1
                    outcomes.append((claimed.kind, self._run_in_group(tx, job_id, claimed, pre_started)))
                    if time.monotonic() >= deadline:
                        break
        except Exception:
            if not group:
                raise  # no job ran: the database itself failed, as a claim would
            # The group could not commit (its connection died, say): nothing of it stands. Its jobs are
            # still ours; each runs again alone, and one that started before the group keeps that attempt.
            log.exception("worker.group_failed", worker_id=self.worker_id, jobs=len(group))
            for job_id, claimed, pre_started in group:
                self._claimed[job_id] = claimed._replace(alone=True)
                if pre_started:
                    self._started.add(job_id)
            return first
        if next_started:
            self._started.add(ids[index])
        for kind, status in outcomes:
            _count(kind, status)
        return index

    def _run_in_group(self, tx: Tx, job_id: int, claimed: _Claimed, pre_started: bool) -> str:
        if not pre_started and not self._mark_started(tx, job_id):
            return "lost"
        try:
            # The job's savepoint; an ORM session the handler asked for (`session_of`) ends inside it, so
            # the next job reads afresh, as in a transaction of its own.
            with tx.savepoint(), session_scope(tx):
                registry.handler_for(claimed.kind).handler(tx, claimed.payload)
                self._mark_done(tx, job_id)
            return outbox.DONE
        except _LeaseLost:
            return "lost"
        except Exception as exc:
            return self._fail(tx, job_id, claimed.kind, exc)

    def run_job(self, job_id: int, *, next_job_id: int | None = None, heartbeat: bool = True) -> str:
        """Run one claimed job in its own transaction. Returns its new status ("lost" when another
        worker holds it now). `next_job_id`: the job to run after this one, started in this job's final
        transaction. `heartbeat=False`: the caller already renews the leases (`_run_external`)."""
        kind = "?"
        try:
            found = self._job_of(job_id)
            if found is None or not self._start(job_id):
                return "lost"
            kind, payload = found
            registered = registry.handler_for(kind)
            if registered.external:
                if heartbeat:
                    with self._heartbeat():
                        registered.handler(self.database, payload)
                else:
                    registered.handler(self.database, payload)
                with self.database.autocommit() if next_job_id is None else self.database.tx() as tx:
                    self._mark_done(tx, job_id)
                    next_started = next_job_id is not None and self._mark_started(tx, next_job_id)
            else:
                with self.database.job_transaction() as tx:
                    registered.handler(tx, payload)
                    self._mark_done(tx, job_id)
                    next_started = next_job_id is not None and self._mark_started(tx, next_job_id)
            if next_started and next_job_id is not None:
                self._started.add(next_job_id)
            _count(kind, outbox.DONE)
            return outbox.DONE
        except _LeaseLost:
            return "lost"
        except Exception as exc:
            with self.database.tx() as tx:
                status = self._fail(tx, job_id, kind, exc)
            _count(kind, status)
            return status

    def _mark_done(self, tx: Tx, job_id: int) -> None:
        if tx.run(_DONE, id=job_id, worker=self.worker_id, now=clock.now()) != 1:
            # Our lease ran out and another worker owns the job now: undo, it will do the work.
            raise _LeaseLost()

    def _fail(self, tx: Tx, job_id: int, kind: str, exc: Exception) -> str:
        """Record a failed attempt: queued again after a backoff, or dead after its last attempt."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        held = tx.one(_HELD, id=job_id, worker=self.worker_id)
        if held is None:
            return "lost"
        attempts, max_attempts = held
        now = clock.now()
        if attempts >= max_attempts:
            status, run_at, finished_at = outbox.DEAD, None, now
            log.error("job.dead_lettered", job_id=job_id, kind=kind, attempts=attempts, error=error)
        else:
            # Two groups that locked two cards in opposite orders: the database chose this job to undo. It
            # is not the job's fault, and the other group has committed by now: try again at once.
            delay = backoff_seconds(attempts) if not _lost_a_lock_race(exc) else random.uniform(0, 0.05)
            status, run_at, finished_at = outbox.QUEUED, now + timedelta(seconds=delay), None
            log.warning("job.retry", job_id=job_id, kind=kind, attempts=attempts, error=error)
        tx.run(_FAILED, id=job_id, status=status, run_at=run_at, finished_at=finished_at, error=error)
        return status

    def extend_leases(self) -> int:
        """Renew the lease of every job this worker holds (the heartbeat). Returns how many."""
        with self.database.tx() as tx:
            return tx.run(_EXTEND, worker=self.worker_id, lease=self._lease_from(clock.now()))

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
