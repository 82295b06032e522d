"""Chargebacks, as a payments operator books them.

* Opened (the bank took the money back): the disputed amount leaves the gateway's clearing account for
  `operator:disputes:<currency>` (money we may or may not get back), and the card gets a top-up hold: new
  recharges are refused until staff decide, but the card keeps working and emergency help stays open (it
  is not a suspension).
* Won: the gateway gives the money back: `disputes` → gateway.
* Lost: written off: `disputes` → `operator:dispute_losses:<currency>`.

Every movement has its own business key (`<dispute id>:withdrawn|reinstated|written_off`), so a repeated or
out-of-order notification moves nothing twice. The value already credited to the card is not taken back
automatically: staff look at the card and decide (a refund, a suspension, or simply lifting the hold).
Lock order: the dispute's row, then the card's, then ledger accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roamcard.db import insert_ignoring_conflict
from roamcard.dispute import repository
from roamcard.dispute.states import DisputeStatus, dispute_machine
from roamcard.errors import Conflict, NotFound
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.ledger import service as ledger
from roamcard.metrics import DISPUTES_OPENED
from roamcard.models import Card, Dispute, LedgerAccount, Payment, TopupOrder

log = structlog.get_logger("roamcard.dispute")


class DisputeNotFound(NotFound):
    code = "dispute_not_found"
    message = "There is no such dispute."


class DisputeHoldAlreadyReleased(Conflict):
    code = "dispute_hold_already_released"
    message = "The hold of this dispute has already been lifted."


@dataclass(frozen=True)
class GatewayDispute:
    """A dispute as a verified gateway notification describes it."""

    provider: str
    reference: str  # the gateway's id (Stripe dp_…)
    payment_id: str
    amount: int
    currency: str
    reason: str | None = None


def _accounts(session: Session, dispute: Dispute) -> tuple[LedgerAccount, LedgerAccount]:
    return (
        ledger.operator_account(session, f"gateway:{dispute.provider}", dispute.currency),
        ledger.operator_account(session, "disputes", dispute.currency),
    )


def open_dispute(session: Session, found: GatewayDispute) -> Dispute:
    """Record the dispute once, move its amount to the disputes account, hold the card's top-ups."""
    payment = session.get(Payment, found.payment_id)
    order = session.get(TopupOrder, payment.order_id) if payment is not None else None
    if payment is None or order is None:
        raise DisputeNotFound()
    now = clock.now()
    dispute_id = new_id("dsp")
    inserted = insert_ignoring_conflict(
        session,
        Dispute,
        {
            "id": dispute_id,
            "provider": found.provider,
            "provider_reference": found.reference,
            "payment_id": payment.id,
            "order_id": order.id,
            "card_id": order.card_id,
            "amount": found.amount,
            "currency": found.currency,
            "status": DisputeStatus.OPEN.value,
            "reason": (found.reason or "")[:64] or None,
            "created_at": now,
            "updated_at": now,
        },
    )
    dispute = repository.get_by_reference(session, found.provider, found.reference)
    assert dispute is not None
    if not inserted:
        return dispute
    dispute_machine.record_creation(session, dispute.id, DisputeStatus.OPEN)
    # Unconditional, so it takes the card's row lock: a release running meanwhile (which locks the card
    # before counting holding disputes) either sees this dispute or is followed by this update.
    session.execute(
        update(Card)
        .where(Card.id == dispute.card_id)
        .values(topup_held_at=func.coalesce(Card.topup_held_at, now))
        .execution_options(synchronize_session=False)
    )
    gateway, disputes = _accounts(session, dispute)
    ledger.transfer(
        session,
        key=f"{dispute.id}:withdrawn",
        debit=disputes,
        credit=gateway,
        amount=dispute.amount,
        reason="dispute",
        reference=dispute.order_id,
    )
    DISPUTES_OPENED.labels(provider=dispute.provider).inc()
    log.warning(
        "dispute.opened",
        dispute_id=dispute.id,
        payment_id=payment.id,
        card_id=dispute.card_id,
        amount=found.amount,
    )
    return dispute


def close_dispute(session: Session, found: GatewayDispute, *, won: bool) -> Dispute:
    """The gateway's decision. A close that arrives before its opening opens it first."""
    dispute = repository.get_by_reference(session, found.provider, found.reference) or open_dispute(
        session, found
    )
    target = DisputeStatus.WON if won else DisputeStatus.LOST
    if not dispute_machine.transition(
        session,
        dispute.id,
        DisputeStatus.OPEN,
        target,
        reason=f"{found.provider}: {target.value}",
        closed_at=clock.now(),
    ):
        return dispute
    gateway, disputes = _accounts(session, dispute)
    if won:
        ledger.transfer(
            session,
            key=f"{dispute.id}:reinstated",
            debit=gateway,
            credit=disputes,
            amount=dispute.amount,
            reason="dispute_won",
            reference=dispute.order_id,
        )
    else:
        ledger.transfer(
            session,
            key=f"{dispute.id}:written_off",
            debit=ledger.operator_account(session, "dispute_losses", dispute.currency),
            credit=disputes,
            amount=dispute.amount,
            reason="dispute_lost",
            reference=dispute.order_id,
        )
    log.warning("dispute.closed", dispute_id=dispute.id, outcome=target.value)
    session.refresh(dispute)
    return dispute


def release_hold(session: Session, dispute_id: str, *, staff_ref: str, reason: str) -> Dispute:
    """Staff decided: this dispute no longer holds the card's top-ups. The card's hold is lifted when no
    other dispute on it still holds it."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise DisputeNotFound()
    now = clock.now()
    released = session.execute(
        update(Dispute)
        .where(Dispute.id == dispute_id, Dispute.hold_released_at.is_(None))
        .values(
            hold_released_at=now,
            hold_released_by=staff_ref[:64],
            decision_reason=reason[:500],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if released.rowcount != 1:  # type: ignore[attr-defined]
        raise DisputeHoldAlreadyReleased()
    session.execute(select(Card.id).where(Card.id == dispute.card_id).with_for_update())
    if repository.count_holding(session, dispute.card_id) == 0:
        session.execute(
            update(Card)
            .where(Card.id == dispute.card_id)
            .values(topup_held_at=None)
            .execution_options(synchronize_session=False)
        )
    session.refresh(dispute)
    return dispute
