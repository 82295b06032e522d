"""Periodic work the worker does between jobs. Each sweeper is one short transaction and is safe to run
on many workers at once (every change is a conditional transition)."""

from __future__ import annotations

from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.ledger import service as ledger
from roamcard.topup.service import expire


def expire_unpaid_orders(database: Database) -> int:
    with database.transaction() as session:
        return expire.expire_unpaid(session)


def expire_lapsed_packs(database: Database) -> int:
    with database.transaction() as session:
        return ledger.expire_lapsed_allowances(session)


def requeue_stuck_fulfilment(database: Database) -> int:
    with database.transaction() as session:
        return expire.requeue_stuck_fulfilment(session)


SWEEPERS = (expire_unpaid_orders, expire_lapsed_packs, requeue_stuck_fulfilment)


def build_worker(database: Database, worker_id: str | None = None) -> Worker:
    return Worker(database, worker_id=worker_id, sweepers=SWEEPERS)
