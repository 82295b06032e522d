from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from roamcard.jobs.registry import job
from roamcard.topup.service.fulfil import fulfil


@job("topup.fulfil")
def fulfil_order(session: Session, payload: dict[str, Any]) -> None:
    fulfil(session, payload["order_id"])
