from __future__ import annotations

from typing import Any

from roamcard.jobs.registry import job
from roamcard.kit.sql import Tx
from roamcard.topup.service.fulfil import fulfil


@job("topup.fulfil")
def fulfil_order(tx: Tx, payload: dict[str, Any]) -> None:
    fulfil(tx, payload["order_id"])
