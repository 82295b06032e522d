from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from roamcard.config import get_settings
from roamcard.db import Database, session_of, tx_of
from roamcard.jobs import outbox, registry
from roamcard.jobs import worker as worker_module
from roamcard.jobs.sweepers import build_worker
from roamcard.jobs.worker import Worker, backoff_seconds
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.models import Job, LedgerTransfer
from tests.factories import sandbox_event, sandbox_headers
from tests.payment.test_sandbox_webhook import count, open_order, wallet_balance

calls: list[dict[str, Any]] = []


@registry.job("test.flaky")
def flaky(tx: Tx, payload: dict[str, Any]) -> None:
    calls.append(payload)
    if len(calls) <= payload["fail_times"]:
        raise RuntimeError("boom")


failed_once: set[int] = set()


@registry.job("test.fail_once")
def fail_once(tx: Tx, payload: dict[str, Any]) -> None:
    if payload["n"] not in failed_once:
        failed_once.add(payload["n"])
        raise RuntimeError("first try fails")


def job_row(database: Database, kind: str) -> Job:
    with database.reading() as session:
        job = session.scalars(select(Job).where(Job.kind == kind)).one()
        session.expunge(job)
        return job


class TestRetries:
    def setup_method(self) -> None:
        calls.clear()

    def test_failure_is_retried_with_backoff_then_succeeds(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.flaky", {"fail_times": 1})
        worker = Worker(database)
        assert worker.drain() == 1
        failed = job_row(database, "test.flaky")
        assert (failed.status, failed.attempts) == ("queued", 1)
        assert "boom" in (failed.last_error or "")
        assert failed.run_at > clock.now()
        assert worker.drain() == 0  # not due yet
        frozen_clock.advance(seconds=backoff_seconds(1) * 2 + 1)
        assert worker.drain() == 1
        assert job_row(database, "test.flaky").status == "done"

    def test_dead_lettered_after_max_attempts(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.flaky", {"fail_times": 99}, max_attempts=3)
        worker = Worker(database)
        for _ in range(5):
            worker.drain()
            frozen_clock.advance(hours=2)
        dead = job_row(database, "test.flaky")
        assert (dead.status, dead.attempts, len(calls)) == ("dead", 3, 3)

    def test_backoff_grows_and_is_capped(self) -> None:
        assert all(1 <= backoff_seconds(1) <= 2 for _ in range(20))
        assert all(512 <= backoff_seconds(10) <= 1024 for _ in range(20))
        assert all(backoff_seconds(40) <= 3600 for _ in range(20))

    def test_dedupe_key_queues_once(self, database: Database) -> None:
        with database.transaction() as session:
            assert outbox.enqueue(session, "test.flaky", {"fail_times": 0}, dedupe_key="once")
            assert not outbox.enqueue(session, "test.flaky", {"fail_times": 0}, dedupe_key="once")

    def test_rolled_back_transaction_leaves_no_job(self, database: Database) -> None:
        def failing_change() -> None:
            with database.transaction() as session:
                outbox.enqueue(session, "test.flaky", {"fail_times": 0})
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            failing_change()
        assert Worker(database).drain() == 0


class TestLeases:
    def test_job_of_a_vanished_worker_is_taken_over_after_its_lease(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.flaky", {"fail_times": 0})
        crashed = Worker(database, worker_id="crashed")
        assert len(crashed.claim(10)) == 1  # claimed, never run
        survivor = Worker(database, worker_id="survivor")
        assert survivor.drain() == 0
        frozen_clock.advance(seconds=61)
        assert survivor.drain() == 1
        assert crashed.run_job(job_row(database, "test.flaky").id) == "lost"
        assert job_row(database, "test.flaky").status == "done"

    def test_a_job_lost_with_its_batch_before_it_ran_keeps_its_attempts(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        failed_once.clear()
        with database.transaction() as session:
            for n in range(3):
                outbox.enqueue(session, "test.fail_once", {"n": n}, max_attempts=3 if n == 0 else 2)
        slow = Worker(database, worker_id="slow")
        batch = slow.claim(10)
        assert len(batch) == 3
        frozen_clock.advance(seconds=get_settings().job_lease_seconds + 1)  # stuck in its first job
        other = Worker(database, worker_id="other")
        assert other.run_once() == 3  # takes the expired batch over; each fails once
        assert [slow.run_job(job_id) for job_id in batch] == ["lost"] * 3
        with database.reading() as session:
            jobs = session.scalars(select(Job).order_by(Job.id)).all()
            # The first job started on both workers; the other two only ran once and keep a second try.
            assert [(j.status, j.attempts) for j in jobs] == [("queued", 2), ("queued", 1), ("queued", 1)]
        frozen_clock.advance(hours=2)
        assert other.run_once() == 3
        with database.reading() as session:
            assert [j.status for j in session.scalars(select(Job))] == ["done"] * 3

    def test_an_attempt_is_counted_when_the_handler_starts(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        seen: list[int] = []

        @registry.job("test.count_attempts")
        def count_attempts(tx: Tx, payload: dict[str, Any]) -> None:
            seen.append(tx.value("SELECT attempts FROM jobs WHERE kind = 'test.count_attempts'"))

        with database.transaction() as session:
            outbox.enqueue(session, "test.count_attempts", {})
        worker = Worker(database)
        [job_id] = worker.claim(1)
        assert job_row(database, "test.count_attempts").attempts == 1  # the claim started the first job
        assert worker.run_job(job_id) == "done"
        assert seen == [1]


slow_calls: list[str] = []
slow_context: dict[str, Any] = {}


@registry.external_job("test.slow_call")
def slow_call(database: Database, payload: dict[str, Any]) -> None:
    """A gateway call that takes longer than the lease: the clock moves past it while the call waits, and
    another worker looks for expired leases in the middle of it."""
    worker: Worker = slow_context["worker"]
    frozen: clock.FrozenClock = slow_context["clock"]
    lease = get_settings().job_lease_seconds
    for _ in range(2):  # twice (lease - 1) seconds: past the lease the claim gave
        frozen.advance(seconds=lease - 1)
        worker.heartbeat_beat.clear()
        assert worker.heartbeat_beat.wait(10), "no heartbeat while the call waited"
    stolen = Worker(database, worker_id="thief").claim(10)
    slow_calls.append(f"stolen:{len(stolen)}")


class TestHeartbeat:
    def test_a_long_external_call_keeps_its_lease_and_its_batch(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        slow_calls.clear()
        calls.clear()
        worker = Worker(database, worker_id="caller", heartbeat_interval_seconds=0.01)
        slow_context.update(worker=worker, clock=frozen_clock)
        with database.transaction() as session:
            outbox.enqueue(session, "test.slow_call", {})
            outbox.enqueue(session, "test.flaky", {"fail_times": 0})
        assert worker.run_once() == 2
        assert slow_calls == ["stolen:0"]  # neither the call's job nor the next one of the batch
        with database.reading() as session:
            assert [
                (j.kind, j.status, j.attempts) for j in session.scalars(select(Job).order_by(Job.id))
            ] == [
                ("test.slow_call", "done", 1),
                ("test.flaky", "done", 1),
            ]
        assert len(calls) == 1


class TestRegistry:
    def test_the_registry_is_a_dict_filled_only_by_the_task_list(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        script = "from roamcard.jobs import registry, worker; print(registry.kinds())"
        alone = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
        assert alone.stdout.decode().strip() == "[]", alone.stderr.decode()
        script = "import roamcard.jobs.sweepers; from roamcard.jobs import registry; print(registry.kinds())"
        listed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
        assert "'refund.submit'" in listed.stdout.decode(), listed.stderr.decode()
        with pytest.raises(registry.UnknownJobKind, match=r"roamcard/tasks\.py"):
            registry.handler_for("no.such.kind")

    def test_no_function_hides_an_import_in_the_registry(self) -> None:
        tree = ast.parse(Path(registry.__file__).read_text())
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        hidden = [
            inner.lineno
            for function in functions
            for inner in ast.walk(function)
            if isinstance(inner, ast.Import | ast.ImportFrom)
        ]
        assert hidden == []


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from roamcard.config import get_settings
    from roamcard.db import Database
    from roamcard.jobs import registry
    from dataclasses import replace
    from roamcard import wiring
    from roamcard.jobs.sweepers import build_worker
    from roamcard.payment import outcomes

    mode = sys.argv[1]
    database = Database(get_settings())
    worker = build_worker(database, worker_id="doomed")
    [job_id] = worker.claim(1)
    if mode == "before-commit":
        real = wiring.PAYMENT_OUTCOMES.order_paid
        def fulfil_then_die(tx, order_id, facts=None):
            real(tx, order_id, facts)  # the credit is written in the open transaction ...
            os._exit(9)                # ... and the process dies before commit
        outcomes.install(replace(wiring.PAYMENT_OUTCOMES, order_paid=fulfil_then_die))
        worker.run_job(job_id)
    else:
        # The handler's effects commit, the process dies before the job is marked done.
        with database.reading() as session:
            from roamcard.models import Job
            job = session.get(Job, job_id)
            kind, payload = job.kind, dict(job.payload)
        with database.job_transaction() as tx:
            registry.handler_for(kind).handler(tx, payload)
        os._exit(9)
    """
)


class TestCrashMidJob:
    @pytest.mark.parametrize("mode", ["before-commit", "after-commit"])
    def test_killed_worker_still_credits_exactly_once(
        self, database: Database, frozen_clock: clock.FrozenClock, mode: str
    ) -> None:
        card_id, payment = open_order(database)
        body = sandbox_event(payment.id, 1000, "USD")
        from roamcard.payment import service as payment_service

        with database.transaction() as session:
            payment_service.accept_sandbox_notification(
                session, body, sandbox_headers(body)["Roamcard-Signature"]
            )

        env = {**os.environ, "ROAMCARD_DATABASE_URL": database.settings.database_url}
        result = subprocess.run(
            [sys.executable, "-c", CRASH_SCRIPT, mode], env=env, capture_output=True, timeout=60
        )
        assert result.returncode == 9, result.stderr.decode()
        expected_before_retry = 0 if mode == "before-commit" else 1000
        assert wallet_balance(database, card_id) == expected_before_retry
        assert job_row(database, "payment.process_event").status == "running"

        # The dead worker leased the job on the real clock; move past that lease.
        frozen_clock.current = datetime.now(UTC) + timedelta(seconds=get_settings().job_lease_seconds + 1)
        build_worker(database).drain()

        assert wallet_balance(database, card_id) == 1000
        assert count(database, LedgerTransfer, LedgerTransfer.reason == "topup") == 1
        assert job_row(database, "payment.process_event").status == "done"
        with database.reading() as session:
            assert ledger.verify(session).ok


@registry.job("test.crash")
def crash_here(tx: Tx, payload: dict[str, Any]) -> None:
    """The job that killed another worker's process (see BATCH_CRASH_SCRIPT); harmless here."""


BATCH_CRASH_SCRIPT = textwrap.dedent(
    """
    import os
    from roamcard.config import get_settings
    from roamcard.db import Database
    from roamcard.jobs import registry
    from roamcard.jobs.sweepers import build_worker

    @registry.job("test.crash")
    def crash(tx, payload):
        os._exit(9)  # the process dies in the first job of its batch

    build_worker(Database(get_settings()), worker_id="doomed").run_once(10)
    """
)


class TestCrashMidBatch:
    def test_jobs_of_a_batch_whose_worker_died_before_their_turn_keep_their_attempts(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        failed_once.clear()
        with database.transaction() as session:
            outbox.enqueue(session, "test.crash", {})
            for n in (10, 11):
                outbox.enqueue(session, "test.fail_once", {"n": n}, max_attempts=2)
        env = {**os.environ, "ROAMCARD_DATABASE_URL": database.settings.database_url}
        result = subprocess.run(
            [sys.executable, "-c", BATCH_CRASH_SCRIPT], env=env, capture_output=True, timeout=60
        )
        assert result.returncode == 9, result.stderr.decode()
        with database.reading() as session:
            jobs = session.scalars(select(Job).order_by(Job.id)).all()
            assert [(j.status, j.locked_by, j.attempts) for j in jobs] == [
                ("running", "doomed", 1),  # it started (and killed the worker)
                ("running", "doomed", 0),  # claimed, never started
                ("running", "doomed", 0),
            ]

        frozen_clock.current = datetime.now(UTC) + timedelta(seconds=get_settings().job_lease_seconds + 1)
        survivor = build_worker(database, worker_id="survivor")
        survivor.drain()  # the two fail once each: one attempt spent, one left
        frozen_clock.advance(hours=2)
        survivor.drain()
        with database.reading() as session:
            jobs = session.scalars(select(Job).order_by(Job.id)).all()
            assert [(j.status, j.attempts) for j in jobs] == [("done", 2), ("done", 2), ("done", 2)]


class TestOperatorCommands:
    def test_dead_job_is_listed_and_can_be_retried(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        from typer.testing import CliRunner

        from roamcard.cli import app

        calls.clear()
        with database.transaction() as session:
            outbox.enqueue(session, "test.flaky", {"fail_times": 1}, max_attempts=1)
        Worker(database).drain()
        dead = job_row(database, "test.flaky")
        assert dead.status == "dead"
        runner = CliRunner()
        listing = runner.invoke(app, ["jobs", "list", "--status", "dead"])
        assert listing.exit_code == 0
        assert "test.flaky" in listing.stdout
        assert runner.invoke(app, ["jobs", "retry", str(dead.id)]).exit_code == 0
        assert runner.invoke(app, ["jobs", "retry", str(dead.id)]).exit_code == 1
        assert Worker(database).drain() == 1
        assert job_row(database, "test.flaky").status == "done"


class TestMetrics:
    def test_metrics_count_jobs_and_requests(self, database: Database, client: Any) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.flaky", {"fail_times": 0})
        Worker(database).drain()
        client.get("/healthz")
        text = client.get("/metrics").text
        assert 'roamcard_jobs_total{kind="test.flaky",outcome="done"}' in text
        assert 'route="/healthz"' in text


batch_calls: list[int] = []


@registry.job("test.batch_write")
def batch_write(tx: Tx, payload: dict[str, Any]) -> None:
    """Writes a row, then fails if told to: a failure must take its write with it."""
    batch_calls.append(payload["n"])
    outbox.enqueue(
        tx,
        "test.flaky",
        {"fail_times": 0},
        dedupe_key=f"written:{payload['n']}",
        run_at=clock.now() + timedelta(days=1),
    )
    if payload.get("fail"):
        raise RuntimeError(f"job {payload['n']} fails")


def count_commits(database: Database) -> list[int]:
    """Commits of SQLAlchemy connections (a batch's transaction); the claim writes on its own."""
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _connection: commits.append(1))
    return commits


class TestBatches:
    def setup_method(self) -> None:
        batch_calls.clear()

    def enqueue_batch(self, database: Database, failing: set[int]) -> None:
        with database.transaction() as session:
            for n in range(5):
                outbox.enqueue(session, "test.batch_write", {"n": n, "fail": n in failing})

    def written(self, database: Database) -> list[str]:
        with database.reading() as session:
            keys = session.scalars(select(Job.dedupe_key).where(Job.dedupe_key.is_not(None)))
            return sorted(key for key in keys if key is not None)

    def test_a_failing_job_in_the_middle_commits_the_others_and_its_failure(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        self.enqueue_batch(database, failing={2})
        commits = count_commits(database)
        assert Worker(database).run_once() == 5
        assert len(commits) == 1  # the whole batch, its failure included, in one commit
        assert batch_calls == [0, 1, 2, 3, 4]
        with database.reading() as session:
            jobs = session.scalars(select(Job).where(Job.kind == "test.batch_write").order_by(Job.id)).all()
            assert [(j.status, j.attempts) for j in jobs] == [("done", 1)] * 2 + [("queued", 1)] + [
                ("done", 1)
            ] * 2
            failed = jobs[2]
            assert "job 2 fails" in (failed.last_error or "")
            assert failed.run_at > clock.now()
            assert failed.locked_until is None
        # The failed job's own write was undone with its savepoint, the others' stand.
        assert self.written(database) == ["written:0", "written:1", "written:3", "written:4"]

    def test_a_rolled_back_job_leaves_no_partial_write_and_its_retry_writes_once(
        self, database: Database, frozen_clock: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        with database.transaction() as session:
            outbox.enqueue(session, "test.batch_write", {"n": 7, "fail": True}, max_attempts=1)
        Worker(database).drain()
        assert job_row(database, "test.batch_write").status == "dead"
        assert self.written(database) == []

    def test_one_commit_per_batch_and_a_time_bound_splits_it(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        self.enqueue_batch(database, failing=set())
        commits = count_commits(database)
        assert Worker(database).run_once() == 5
        assert len(commits) == 1
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 0.0)  # every job over the budget
        with database.transaction() as session:
            for n in range(5, 8):
                outbox.enqueue(session, "test.batch_write", {"n": n})
        commits.clear()
        assert Worker(database).run_once() == 3
        assert len(commits) == 3
        assert self.written(database) == [f"written:{n}" for n in range(8)]
        with database.reading() as session:
            assert {
                j.attempts for j in session.scalars(select(Job).where(Job.kind == "test.batch_write"))
            } == {1}

    def test_wakeups_of_the_batch_survive_a_failed_job(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        woken: list[int] = []
        wake = lambda: woken.append(1)  # noqa: E731
        with database.transaction() as session:
            outbox.enqueue(session, "test.enqueue_due", {})
            outbox.enqueue(session, "test.batch_write", {"n": 1, "fail": True})
        outbox.register_wakeup(wake)
        try:
            assert Worker(database).run_once() == 2
        finally:
            outbox.unregister_wakeup(wake)
        assert woken == [1]  # once, after the batch committed

    def test_a_group_that_cannot_commit_runs_its_jobs_again_alone(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        self.enqueue_batch(database, failing=set())
        real_commit = Connection._commit_impl
        failures = [RuntimeError("connection lost at commit")]
        test_thread = threading.get_ident()

        def commit_failing_once(connection: Connection) -> None:
            # Only this test's commits: a thread left over from another test must not take the failure.
            if failures and threading.get_ident() == test_thread:
                raise failures.pop()
            real_commit(connection)

        monkeypatch.setattr(Connection, "_commit_impl", commit_failing_once)
        assert Worker(database).run_once() == 5
        assert batch_calls == [0, 1, 2, 3, 4] * 2  # the group, then each job alone
        with database.reading() as session:
            jobs = session.scalars(select(Job).where(Job.kind == "test.batch_write")).all()
            # The claim's attempt of the first job stands; the others' died with the group.
            assert [(j.status, j.attempts) for j in jobs] == [("done", 1)] * 5
        assert self.written(database) == [f"written:{n}" for n in range(5)]


@registry.job("test.enqueue_due")
def enqueue_due(tx: Tx, payload: dict[str, Any]) -> None:
    outbox.enqueue(tx, "test.flaky", {"fail_times": 0}, dedupe_key="due-now")


meeting = threading.Barrier(3)


@registry.external_job("test.meet")
def meet(database: Database, payload: dict[str, Any]) -> None:
    """An outside call that only returns once two others are in flight with it."""
    meeting.wait(timeout=10)


class TestExternalJobsSideBySide:
    def test_the_external_jobs_of_a_batch_run_at_the_same_time(self, database: Database) -> None:
        meeting.reset()
        with database.transaction() as session:
            for _ in range(3):
                outbox.enqueue(session, "test.meet", {})
            outbox.enqueue(session, "test.flaky", {"fail_times": 0})
        assert Worker(database).run_once() == 4  # one after another, the first would wait for ever
        with database.reading() as session:
            assert sorted((j.kind, j.status, j.attempts) for j in session.scalars(select(Job))) == [
                ("test.flaky", "done", 1),
                *[("test.meet", "done", 1)] * 3,
            ]


deadlocks = {"left": 0}


@registry.job("test.deadlocked_once")
def deadlocked_once(tx: Tx, payload: dict[str, Any]) -> None:
    if deadlocks["left"]:
        deadlocks["left"] -= 1
        error = RuntimeError("deadlock detected")
        error.sqlstate = "40P01"  # type: ignore[attr-defined]  # what psycopg's DeadlockDetected carries
        raise error


@registry.job("test.plain_failure")
def plain_failure(tx: Tx, payload: dict[str, Any]) -> None:
    raise RuntimeError("a bug of the job's own")


class TestLockRaces:
    def test_a_job_undone_to_break_a_deadlock_is_due_again_at_once(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        deadlocks["left"] = 1
        with database.transaction() as session:
            outbox.enqueue(session, "test.deadlocked_once", {})
            outbox.enqueue(session, "test.plain_failure", {})
        worker = Worker(database)
        assert worker.run_once() == 2
        frozen_clock.advance(seconds=0.1)  # far less than any backoff (at least a second)
        assert worker.run_once() == 1  # only the deadlock victim is due again
        with database.reading() as session:
            jobs = {j.kind: (j.status, j.attempts) for j in session.scalars(select(Job))}
        assert jobs == {"test.deadlocked_once": ("done", 2), "test.plain_failure": ("queued", 1)}


orm_seen: list[str | None] = []


@registry.job("test.lean_write")
def lean_write(tx: Tx, payload: dict[str, Any]) -> None:
    """A lean handler's write, not committed yet when the next job of the group runs."""
    outbox.enqueue(tx, "test.flaky", {"fail_times": 0}, dedupe_key=f"lean:{payload['n']}", run_at=FAR)


@registry.job("test.orm_touch")
def orm_touch(tx: Tx, payload: dict[str, Any]) -> None:
    """An ORM handler in a lean group: reads the lean write before it through the ORM, changes it by the
    unit of work, queues a job due now through the session (a wakeup after commit), fails if told to."""
    session = session_of(tx)
    job = session.scalars(select(Job).where(Job.dedupe_key == f"lean:{payload['n']}")).one_or_none()
    orm_seen.append(None if job is None else job.dedupe_key)
    if job is not None:
        job.last_error = f"touched by {payload['n']}"
    outbox.enqueue(session, "test.flaky", {"fail_times": 0}, dedupe_key=f"orm:{payload['n']}")
    if payload.get("fail"):
        session.flush()  # its writes are in the database, inside the job's savepoint
        raise RuntimeError("the ORM job fails")


FAR = datetime(2100, 1, 1, tzinfo=UTC)


class TestOrmHandlersInALeanGroup:
    def setup_method(self) -> None:
        orm_seen.clear()

    def test_an_orm_handler_sees_the_group_transaction_and_a_failure_undoes_only_its_own_writes(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "GROUP_SECONDS", 60.0)
        with database.transaction() as session:
            for n in (1, 2):
                outbox.enqueue(session, "test.lean_write", {"n": n})
                outbox.enqueue(session, "test.orm_touch", {"n": n, "fail": n == 2})
        commits = count_commits(database)
        woken: list[int] = []
        wake = lambda: woken.append(1)  # noqa: E731
        outbox.register_wakeup(wake)
        try:
            assert Worker(database).run_once() == 4
        finally:
            outbox.unregister_wakeup(wake)
        assert len(commits) == 1  # the lean jobs and the ORM ones, in one transaction
        assert orm_seen == ["lean:1", "lean:2"]  # each ORM job saw the uncommitted lean write before it
        assert woken == [1]  # the ORM job's wakeup ran once, after the group committed
        with database.reading() as session:
            rows = {
                j.dedupe_key: j.last_error
                for j in session.scalars(select(Job).where(Job.dedupe_key.is_not(None)))
            }
            statuses = [
                (j.kind, j.status)
                for j in session.scalars(select(Job).where(Job.dedupe_key.is_(None)).order_by(Job.id))
            ]
        # The failed ORM job's change and its job are gone; the lean write before it stands.
        assert rows == {"lean:1": "touched by 1", "orm:1": None, "lean:2": None}
        assert statuses == [
            ("test.lean_write", "done"),
            ("test.orm_touch", "done"),
            ("test.lean_write", "done"),
            ("test.orm_touch", "queued"),
        ]

    def test_an_orm_handler_running_alone_commits_with_its_done_mark(self, database: Database) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.lean_write", {"n": 3})
        Worker(database).drain()
        with database.transaction() as session:
            outbox.enqueue(session, "test.orm_touch", {"n": 3})
        worker = Worker(database)
        [job_id] = worker.claim(1)
        assert worker.run_job(job_id) == "done"
        assert orm_seen == ["lean:3"]
        with database.reading() as session:
            assert session.scalars(select(Job.last_error).where(Job.dedupe_key == "lean:3")).one() == (
                "touched by 3"
            )
            assert session.get(Job, job_id).status == "done"  # type: ignore[union-attr]


class TestSessionOf:
    def test_a_session_is_itself_and_a_tx_of_a_session_gives_that_session(self, database: Database) -> None:
        with database.transaction() as session:
            assert session_of(session) is session
            assert session_of(tx_of(session)) is session

    def test_a_plain_lean_transaction_has_no_session(self, database: Database) -> None:
        with database.tx() as tx, pytest.raises(RuntimeError, match="no ORM session"):
            session_of(tx)

    def test_a_session_bound_to_a_job_transaction_rolls_back_with_it(self, database: Database) -> None:
        def enqueue_then_fail() -> None:
            with database.job_transaction() as tx:
                outbox.enqueue(session_of(tx), "test.flaky", {"fail_times": 0}, dedupe_key="undone")
                assert tx.value("SELECT count(*) FROM jobs WHERE dedupe_key = 'undone'") == 1
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError, match="undo"):
            enqueue_then_fail()
        with database.job_transaction() as tx:
            assert tx.value("SELECT count(*) FROM jobs WHERE dedupe_key = 'undone'") == 0
            session_of(tx).add(
                Job(
                    kind="test.flaky",
                    payload={"fail_times": 0},
                    dedupe_key="kept",
                    status="queued",
                    attempts=0,
                    max_attempts=3,
                    run_at=FAR,
                    created_at=clock.now(),
                )
            )  # pending: flushed when the transaction ends
        with database.reading() as session:
            assert session.scalars(select(Job.dedupe_key).where(Job.dedupe_key == "kept")).one() == "kept"
