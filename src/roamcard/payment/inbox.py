"""The inbox's loose ends: verified notifications that must not be applied (an amount mismatch, held for
staff) and ones whose handling was lost (re-driven by a sweeper)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.metrics import INBOX_EVENTS_REDRIVEN, PAYMENT_NOTIFICATION_MISMATCHES
from roamcard.models import InboxEvent
from roamcard.payment import repository

log = structlog.get_logger("roamcard.payment")

MISMATCH = "amount_mismatch"
# Inbox sources handled by another noun's job (installed by roamcard/wiring.py, so payment does not import
# them); every other source is a payment gateway's.
JOB_FOR_SOURCE: dict[str, str] = {}
PAYMENT_JOB = "payment.process_event"


def route_source(source: str, job_kind: str) -> None:
    """Re-drive `source`'s unhandled events through `job_kind` instead of the payment job."""
    JOB_FOR_SOURCE[source] = job_kind


_HOLD = (
    "INSERT INTO inbox_events (source, event_id, event_type, body, received_at, held_reason) "
    "VALUES (:source, :event_id, :event_type, :body, :now, :held_reason) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


def hold_mismatch(
    db: Session | Tx,
    source: str,
    event_id: str,
    event_type: str,
    raw_body: bytes,
    *,
    payment_id: str,
    received: str,
) -> bool:
    """A verified notification whose amount or currency is not what we asked for. Refusing it would
    only make the gateway send it again for days; it is acknowledged, kept in the inbox held for staff
    (never handled automatically), counted in a metric and logged (ids and amounts only)."""
    inserted = (
        as_tx(db).one(
            _HOLD,
            source=source,
            event_id=event_id,
            event_type=event_type[:64],
            body=raw_body.decode("utf-8"),
            now=clock.now(),
            held_reason=MISMATCH,
        )
        is not None
    )
    if inserted:
        PAYMENT_NOTIFICATION_MISMATCHES.labels(source=source).inc()
        log.error(
            "webhook.mismatch_held",
            source=source,
            event_id=event_id,
            payment_id=payment_id,
            received=received[:64],
        )
    return inserted


def redrive_unhandled_events(session: Session, *, limit: int = 100) -> int:
    """Verified notifications still unhandled after the re-drive delay (their job died, or was lost):
    queue their handling again, at most once per delay each, with the job of their source (a payment
    gateway's, or an SMS provider's status callback). Handling is idempotent."""
    now = clock.now()
    before = now - timedelta(seconds=get_settings().inbox_redrive_after_seconds)
    queued = 0
    for event in repository.list_unhandled_events(session, before, limit):
        claimed = session.execute(
            update(InboxEvent)
            .where(InboxEvent.id == event.id, InboxEvent.handled_at.is_(None))
            .where(
                InboxEvent.redriven_at.is_(None)
                if event.redriven_at is None
                else InboxEvent.redriven_at == event.redriven_at
            )
            .values(redriven_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker took it
        log.warning("inbox.redriven", source=event.source, event_id=event.event_id)
        INBOX_EVENTS_REDRIVEN.labels(source=event.source).inc()
        job = JOB_FOR_SOURCE.get(event.source, PAYMENT_JOB)
        enqueue(session, job, {"source": event.source, "event_id": event.event_id})
        queued += 1
    return queued
