from __future__ import annotations

from typing import Any

from roamcard.jobs.registry import job
from roamcard.kit.sql import Tx
from roamcard.payment import outcomes


@job("topup.fulfil")
def fulfil_order(tx: Tx, payload: dict[str, Any]) -> None:
    # Through the installed paid hook: a starter order (a new card, card_order) is issued, not just credited.
    outcomes.current().order_paid(tx, payload["order_id"])
