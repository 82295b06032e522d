from __future__ import annotations

from typing import Any

from roamcard.db import Database
from roamcard.jobs.registry import external_job
from roamcard.partner.service import callbacks


@external_job(callbacks.JOB)
def deliver_callback(database: Database, payload: dict[str, Any]) -> None:
    """One attempt; a failed one queues the next itself (callbacks.py), so only a bug raises here."""
    callbacks.deliver(database, int(payload["callback_id"]))
