from __future__ import annotations

from typing import Any

from roamcard.db import Database
from roamcard.jobs.registry import external_job, job
from roamcard.kit.sql import Tx
from roamcard.payment import expiry, service


@job("payment.process_event")
def process_event(tx: Tx, payload: dict[str, Any]) -> None:
    service.process_event(tx, payload["source"], payload["event_id"])


@external_job("payment.settle_unknown")
def settle_unknown(database: Database, payload: dict[str, Any]) -> None:
    """Ask the gateway with no transaction open; no answer raises, and the job retries with backoff."""
    service.settle_unknown_payment(database, payload["payment_id"])


@external_job("payment.open_checkout")
def open_checkout(database: Database, payload: dict[str, Any]) -> None:
    """Safety net for a checkout the request did not get to record (keyed by our id: safe twice)."""
    service.open_checkout(database, payload["payment_id"])


@external_job("payment.close_at_gateway")
def close_at_gateway(database: Database, payload: dict[str, Any]) -> None:
    expiry.close_at_gateway(database, payload["payment_id"])


@external_job("payment.expire_after_query")
def expire_after_query(database: Database, payload: dict[str, Any]) -> None:
    """Past its window: ask the gateway first (paid → fulfil), then expire and close."""
    expiry.expire_after_query(database, payload["payment_id"])


@external_job("payment.final_sweep")
def final_sweep(database: Database, payload: dict[str, Any]) -> None:
    """Still unknown after the final-sweep delay: settle by one last query, or expire and close."""
    expiry.final_sweep(database, payload["payment_id"])
