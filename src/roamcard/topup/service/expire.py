"""Close orders nobody paid within the payment window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.payment import expiry as payment_expiry
from roamcard.topup import repository

STUCK_PAID_AFTER_SECONDS = 60


def expire_unpaid(session: Session, *, limit: int = 500) -> int:
    """Orders past their payment window: each payment's gateway is asked before it expires (payment
    first, then order: docs/CONVENTIONS.md, "Lock order"). Returns how many were looked at."""
    order_ids = repository.list_unpaid_past_window(session, clock.now(), limit)
    payment_expiry.expire_unpaid(session, order_ids)
    return len(order_ids)


def requeue_stuck_fulfilment(session: Session, *, limit: int = 500) -> int:
    """Orders paid but not fulfilled (a channel that marks paid and queues fulfilment, or a bug fixed
    since): queue their fulfilment again. The job is idempotent."""
    older_than = clock.now() - timedelta(seconds=STUCK_PAID_AFTER_SECONDS)
    queued = 0
    for order_id in repository.list_paid_not_fulfilled(session, older_than, limit):
        queued += enqueue(session, "topup.fulfil", {"order_id": order_id}, dedupe_key=f"{order_id}:fulfil")
    return queued
