"""The sandbox gateway's side: open a charge, take the payer's decision, notify the merchant.

The approve/decline action is bound to the charge it was opened for by a signed, single-use link
(`signed_link`, purpose "sandbox-decide"): the checkout URL carries the token, so nobody can approve a
payment by knowing its id, and a link works once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import AppError, NotFound
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import SandboxCharge
from roamcard.sandbox.states import ChargeStatus, charge_machine
from roamcard.signed_link import service as signed_links

LINK_PURPOSE = "sandbox-decide"

__all__ = ["ChargeNotOpen", "ChargeStatus", "OpenedCharge", "close_charge", "decide", "open_charge"]


class ChargeNotOpen(AppError):
    status_code = 409
    code = "charge_not_open"
    message = "This payment can no longer be changed."


@dataclass(frozen=True)
class OpenedCharge:
    id: str
    checkout_path: str  # the checkout page, with a single-use token for this charge's decision


_INSERT_CHARGE = (
    "INSERT INTO sandbox_charges (id, reference, amount, currency, status, return_url, created_at) "
    "VALUES (:entity_id, :reference, :amount, :currency, :to_status, :return_url, :now)"
)
# PostgreSQL: the charge, its checkout link and its creation history in one statement.
_OPEN_CHARGE_PG = (
    f"WITH charge AS ({_INSERT_CHARGE}), link AS ({signed_links.INSERT_LINK}) "
    f"{charge_machine.history.insert_sql()}"
)


def open_charge(
    db: Session | Tx,
    *,
    reference: str,
    amount: int,
    currency: str,
    return_url: str | None,
    link_expires_at: datetime,
) -> OpenedCharge:
    """A new open charge and the link to its checkout page (which expires at `link_expires_at`)."""
    tx = as_tx(db)
    charge_id = new_id("sbx")
    link = signed_links.new_link(LINK_PURPOSE, reference, link_expires_at)
    now = clock.now()
    # Named as the history row's parameters: PostgreSQL's one statement shares them.
    charge = {
        "entity_id": charge_id,
        "reference": reference,
        "amount": amount,
        "currency": currency,
        "to_status": ChargeStatus.OPEN.value,
        "return_url": return_url,
        "now": now,
    }
    if tx.is_sqlite:
        tx.run(_INSERT_CHARGE, **charge)
        tx.run(signed_links.INSERT_LINK, **link.params, now=now)
        charge_machine.record_creation(tx, charge_id, ChargeStatus.OPEN, at=now)
    else:
        history = {"entity_type": charge_machine.entity_type, "from_status": None, "reason": None, "at": now}
        tx.run(_OPEN_CHARGE_PG, **charge, **link.params, **history)
    return OpenedCharge(charge_id, f"/sandbox/checkout/{link.token}")


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
