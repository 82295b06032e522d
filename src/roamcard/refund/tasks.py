from __future__ import annotations

from typing import Any

from roamcard.db import Database
from roamcard.jobs.registry import external_job
from roamcard.refund import service


@external_job("refund.submit")
def submit(database: Database, payload: dict[str, Any]) -> None:
    service.submit(database, payload["refund_id"])


@external_job("refund.settle")
def settle(database: Database, payload: dict[str, Any]) -> None:
    service.settle(database, payload["refund_id"])
