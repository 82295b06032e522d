#!/usr/bin/env python3
"""The worker alone (not a test): CPU and statements per top-up of draining notified sandbox top-ups.

    PYTHONPATH=src:. .venv/bin/python bench/drain.py sqlite 600 3
    PYTHONPATH=src:. .venv/bin/python bench/drain.py postgresql 600 3

Per round: a fresh scratch database (bench/scratch.py), N top-ups created and notified (not timed), one
batch drained to warm up, then `Worker.drain()` of the rest in this one process: the paying job (paying,
fulfilling, queueing the SMS) and the SMS send. Printed per round: the process CPU per top-up around the
drain (robust against other load on the machine, unlike throughput), the lean `Tx` statements and the
statements SQLAlchemy sent per top-up (the ORM, and SQLAlchemy's own savepoints), and SQLAlchemy-level
commits per top-up; then the median and minimum CPU over the rounds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

os.environ.setdefault("ROAMCARD_ENVIRONMENT", "test")
os.environ.setdefault("ROAMCARD_LOG_LEVEL", "WARNING")
os.environ.setdefault("ROAMCARD_PUBLIC_BASE_URL", "http://testserver")

from bench.scratch import ScratchDatabases
from sqlalchemy import event, func, select
from tests.factories import make_card, make_catalog, sandbox_event, sandbox_headers

import roamcard.tasks  # noqa: F401  (every job kind)
from roamcard import migrate, wiring  # noqa: F401
from roamcard.config import get_settings
from roamcard.db import Database, set_database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.sql import Tx
from roamcard.models import TopupOrder
from roamcard.payment import service as payment_service
from roamcard.topup.service.create import create_topup


def notified_topups(database: Database, n: int) -> None:
    with database.transaction() as session:
        make_catalog(session)
        cards = [make_card(session) for _ in range(32)]
    for i in range(n):
        with database.transaction() as session:
            card = session.merge(cards[i % len(cards)])
            _, payment = create_topup(
                session, card, product_id="balance-10", currency="USD", payment_method="sandbox"
            )
            payment_id, amount = payment.id, payment.amount
        body = sandbox_event(payment_id, amount, "USD")
        with database.transaction() as session:
            payment_service.accept_sandbox_notification(
                session, body, sandbox_headers(body)["Roamcard-Signature"]
            )


def one_round(engine: str, scratch: ScratchDatabases, n: int) -> float:
    url = scratch.new("drain")
    migrate.upgrade(url)
    database = Database(get_settings().model_copy(update={"database_url": url}))
    set_database(database)
    try:
        notified_topups(database, n)
        worker = build_worker(database)
        warm = worker.run_once()  # one batch: its jobs are left out of the figures
        counts = {"lean": 0, "sqlalchemy": 0, "commits": 0}
        real = Tx._execute

        def counting(tx: Tx, sql: str, params: dict[str, Any]) -> Any:
            counts["lean"] += 1
            return real(tx, sql, params)

        def count(name: str) -> Any:
            return lambda *_args: counts.__setitem__(name, counts[name] + 1)

        Tx._execute = counting  # type: ignore[method-assign]
        event.listen(database.engine, "before_cursor_execute", count("sqlalchemy"))
        event.listen(database.engine, "commit", count("commits"))
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            worker.drain(max_rounds=100_000)
        finally:
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            Tx._execute = real  # type: ignore[method-assign]
        timed = n - warm  # top-ups whose paying job ran in the timed part (roughly: a batch mixes kinds)
        with database.reading() as session:
            done = session.scalar(
                select(func.count()).select_from(TopupOrder).where(TopupOrder.status == "fulfilled")
            )
        ms = cpu * 1000 / timed
        print(
            f"{engine}: {done}/{n} fulfilled; {ms:.2f} ms worker CPU per top-up, {timed / wall:.0f}/s; "
            f"per top-up: {counts['lean'] / timed:.2f} lean statements, "
            f"{counts['sqlalchemy'] / timed:.2f} through SQLAlchemy, "
            f"{counts['commits'] / timed:.3f} SQLAlchemy commits",
            flush=True,
        )
        return ms
    finally:
        database.dispose()
        scratch.drop(url)


def main() -> None:
    engine, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 3
    scratch = ScratchDatabases(engine)
    try:
        figures = sorted(one_round(engine, scratch, n) for _ in range(rounds))
    finally:
        scratch.close()
    print(f"{engine}: median {figures[len(figures) // 2]:.2f} ms, min {figures[0]:.2f} ms per top-up")


if __name__ == "__main__":
    main()
