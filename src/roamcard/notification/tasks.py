from __future__ import annotations

from typing import Any

from roamcard.db import Database
from roamcard.jobs.registry import external_job
from roamcard.notification import service


@external_job("notification.send")
def send_sms(database: Database, payload: dict[str, Any]) -> None:
    service.send(database, payload["key"])


@external_job("notification.check")
def check_sms(database: Database, payload: dict[str, Any]) -> None:
    service.check(database, payload["key"], int(payload.get("round", 0)))
