"""The sandbox gateway's side: open a charge, take the payer's decision, notify the merchant."""

from __future__ import annotations

import json
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import AppError, NotFound
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.models import SandboxCharge


class ChargeStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"
    CLOSED = "closed"


class ChargeNotOpen(AppError):
    status_code = 409
    code = "charge_not_open"
    message = "This payment can no longer be changed."


def open_charge(
    session: Session, *, reference: str, amount: int, currency: str, return_url: str | None
) -> SandboxCharge:
    charge = SandboxCharge(
        id=new_id("sbx"),
        reference=reference,
        amount=amount,
        currency=currency,
        status=ChargeStatus.OPEN.value,
        return_url=return_url,
        created_at=clock.now(),
    )
    session.add(charge)
    session.flush()
    return charge


def get_charge_by_reference(session: Session, reference: str) -> SandboxCharge | None:
    return session.scalars(select(SandboxCharge).where(SandboxCharge.reference == reference)).one_or_none()


def get_checkout(session: Session, reference: str) -> SandboxCharge:
    charge = get_charge_by_reference(session, reference)
    if charge is None:
        raise NotFound()
    return charge


def decide(session: Session, reference: str, approve: bool) -> SandboxCharge:
    """The payer clicked Approve or Decline. Only an open charge can be decided, once."""
    target = ChargeStatus.APPROVED if approve else ChargeStatus.DECLINED
    now = clock.now()
    result = session.execute(
        update(SandboxCharge)
        .where(SandboxCharge.reference == reference, SandboxCharge.status == ChargeStatus.OPEN.value)
        .values(status=target.value, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    charge = get_checkout(session, reference)
    session.refresh(charge)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ChargeNotOpen()
    event_type = "payment.succeeded" if approve else "payment.failed"
    event = {
        "id": new_id("evt"),
        "type": event_type,
        "data": {"payment_id": charge.reference, "amount": charge.amount, "currency": charge.currency},
    }
    enqueue(session, "sandbox.deliver_notification", {"body": json.dumps(event, separators=(",", ":"))})
    return charge


def close_charge(session: Session, reference: str) -> None:
    session.execute(
        update(SandboxCharge)
        .where(SandboxCharge.reference == reference, SandboxCharge.status == ChargeStatus.OPEN.value)
        .values(status=ChargeStatus.CLOSED.value, decided_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def notification_url() -> str:
    return f"{get_settings().public_base_url}/webhooks/sandbox"
