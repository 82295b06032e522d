"""The sandbox gateway's side: open a charge, take the payer's decision, notify the merchant.

The approve/decline action is bound to the charge it was opened for by a signed, single-use link
(`signed_link`, purpose "sandbox-decide"): the checkout URL carries the token, so nobody can approve a
payment by knowing its id, and a link works once."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import AppError, NotFound
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.models import SandboxCharge
from roamcard.sandbox.states import ChargeStatus, charge_machine
from roamcard.signed_link import service as signed_links

LINK_PURPOSE = "sandbox-decide"

__all__ = ["ChargeNotOpen", "ChargeStatus", "checkout_path", "close_charge", "decide", "open_charge"]


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
    charge_machine.record_creation(session, charge.id, ChargeStatus.OPEN)
    return charge


def checkout_path(session: Session, reference: str, expires_at: datetime) -> str:
    """The checkout page's path, with a fresh single-use token for this charge's decision."""
    return f"/sandbox/checkout/{signed_links.issue(session, LINK_PURPOSE, reference, expires_at)}"


def get_charge_by_reference(session: Session, reference: str) -> SandboxCharge | None:
    return session.scalars(select(SandboxCharge).where(SandboxCharge.reference == reference)).one_or_none()


def get_checkout(session: Session, token: str) -> SandboxCharge:
    """The charge a checkout link shows. A used or expired link still shows the charge's outcome."""
    try:
        link = signed_links.check(session, LINK_PURPOSE, token)
    except (signed_links.LinkUsed, signed_links.LinkExpired):
        link = signed_links.check(session, LINK_PURPOSE, token, spent_ok=True)
    charge = get_charge_by_reference(session, link.subject)
    if charge is None:
        raise NotFound()
    return charge


def decide(session: Session, token: str, approve: bool) -> SandboxCharge:
    """The payer clicked Approve or Decline on the page this token opened. Only an open charge can be
    decided, once; the link is spent by the decision."""
    link = signed_links.use(session, LINK_PURPOSE, token)
    charge = get_charge_by_reference(session, link.subject)
    if charge is None:
        raise NotFound()
    target = ChargeStatus.APPROVED if approve else ChargeStatus.DECLINED
    won = charge_machine.transition(
        session, charge.id, ChargeStatus.OPEN, target, reason="payer's decision", decided_at=clock.now()
    )
    session.refresh(charge)
    if not won:
        raise ChargeNotOpen()
    event_type = "payment.succeeded" if approve else "payment.failed"
    event = {
        "id": new_id("evt"),
        "type": event_type,
        "data": {"payment_id": charge.reference, "amount": charge.amount, "currency": charge.currency},
    }
    enqueue(session, "sandbox.deliver_notification", {"body": json.dumps(event, separators=(",", ":"))})
    return charge


def close_charge(session: Session, reference: str) -> bool:
    """The merchant closes an unpaid charge. False: the payer approved it first (it is paid)."""
    charge = get_charge_by_reference(session, reference)
    if charge is None:
        return True
    charge_machine.transition(
        session,
        charge.id,
        ChargeStatus.OPEN,
        ChargeStatus.CLOSED,
        reason="closed by the merchant",
        decided_at=clock.now(),
    )
    session.refresh(charge)
    return charge.status != ChargeStatus.APPROVED.value


def notification_url() -> str:
    return f"{get_settings().public_base_url}/webhooks/sandbox"
