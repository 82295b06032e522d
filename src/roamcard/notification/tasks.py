from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from roamcard.db import Database
from roamcard.jobs.registry import external_job, job
from roamcard.notification import service, webhooks


@external_job(service.SEND_JOB)
def send_sms(database: Database, payload: dict[str, Any]) -> None:
    service.send(database, payload["key"])


@external_job(service.CHECK_JOB)
def check_sms(database: Database, payload: dict[str, Any]) -> None:
    service.check(database, payload["key"], int(payload.get("round", 0)), hint=bool(payload.get("hint")))


@job(webhooks.PROCESS_JOB)
def process_event(session: Session, payload: dict[str, Any]) -> None:
    webhooks.process_event(session, payload["source"], payload["event_id"])
