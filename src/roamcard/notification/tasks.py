from __future__ import annotations

from typing import Any

from roamcard.db import Database, session_of
from roamcard.jobs.registry import external_job, job
from roamcard.kit.sql import Tx
from roamcard.notification import service, webhooks


@external_job(service.SEND_JOB)
def send_sms(database: Database, payload: dict[str, Any]) -> None:
    service.send(database, payload["key"])


@external_job(service.CHECK_JOB)
def check_sms(database: Database, payload: dict[str, Any]) -> None:
    service.check(database, payload["key"], int(payload.get("round", 0)), hint=bool(payload.get("hint")))


@job(webhooks.PROCESS_JOB)
def process_event(tx: Tx, payload: dict[str, Any]) -> None:
    """An SMS receipt: applied through the ORM, in a session bound to the job's transaction."""
    webhooks.process_event(session_of(tx), payload["source"], payload["event_id"])
