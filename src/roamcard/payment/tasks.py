from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from roamcard.jobs.registry import job
from roamcard.payment import service


@job("payment.process_event")
def process_event(session: Session, payload: dict[str, Any]) -> None:
    service.process_event(session, payload["source"], payload["event_id"])


@job("payment.settle_unknown")
def settle_unknown(session: Session, payload: dict[str, Any]) -> None:
    service.settle_unknown(session, payload["payment_id"])
