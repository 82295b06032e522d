"""Refunds (docs/architecture.md): requested by the card holder, decided by staff, and then

1. approval reverses the ledger first (the value the order left on the card goes back to `issued`), so it
   cannot be spent while the gateway works;
2. a job sends the refund to the gateway that took the money, with no transaction open, keyed by our
   refund id (Alipay out_request_no, WeChat Pay out_refund_no, Stripe idempotency key);
3. success moves the money out of `sales` back to the gateway's clearing account and texts the card
   holder; a final failure gives the card its value back.

The back office calls `approve` and `reject`; a payment that lands on a closed order is refunded by
`refund_late_payment` without anyone asking.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.db import Database
from roamcard.errors import Conflict, NotFound, ValidationFailed
from roamcard.i18n import current_language
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import Money
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.metrics import REFUNDS_FAILED
from roamcard.models import Allowance, Card, Payment, Refund, TopupOrder
from roamcard.notification import service as notifications
from roamcard.payment.providers import get_provider, is_remote
from roamcard.payment.providers.base import (
    GatewayRejected,
    RefundOutcome,
    RefundRequest,
    RemoteRefund,
)
from roamcard.refund import policy, repository
from roamcard.refund import templates as _templates  # noqa: F401  (registers the SMS templates)
from roamcard.refund.states import RefundKind, RefundStatus, refund_machine
from roamcard.topup import repository as topup_repository
from roamcard.topup.service.read import TopupNotFound

log = structlog.get_logger("roamcard.refund")

SETTLE_DELAY_SECONDS = 60
SETTLE_MAX_ATTEMPTS = 30
SYSTEM = "system"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    message = "There is no such refund."


class TopupNotRefundable(Conflict):
    code = "topup_not_refundable"
    message = "Nothing of this recharge can be refunded: it has been used, or it is already refunded."


class RefundNotPending(Conflict):
    code = "refund_not_pending"
    message = "This refund has already been decided."


class RefundNoLongerAvailable(Conflict):
    code = "refund_no_longer_available"
    message = "The value to refund is no longer on the card. Reject this refund instead."


class RefundNotRetryable(Conflict):
    code = "refund_not_retryable"
    message = "This refund does not need a retry: it is no longer stuck or failed, or it was retried already."


class RefundStillProcessing(Exception):
    """The gateway has not finished the refund yet: the settle job asks again later."""


# -- asking ---------------------------------------------------------------------------------------
def refundable(session: Session, card: Card, order_id: str) -> policy.Refundable:
    return policy.refundable(session, _order_of(session, card, order_id))


def request_refund(session: Session, card: Card, order_id: str, *, amount: int | None, reason: str) -> Refund:
    order = _locked(session, _order_of(session, card, order_id).id)
    value = policy.refundable(session, order)
    if value.amount <= 0:
        raise TopupNotRefundable()
    wanted = value.amount if amount is None else amount
    if wanted > value.amount:
        raise ValidationFailed(
            "amount",
            "At most {maximum} of this recharge can be refunded.",
            maximum=Money(value.amount, value.currency).format(current_language()),
        )
    if not value.partial and wanted != value.amount:
        raise ValidationFailed("amount", "A pack can only be refunded whole, while it is unused.")
    payment = repository.succeeded_payment_for_order(session, order.id)
    assert payment is not None  # policy.refundable checked it
    refund = _new_refund(
        session, order, payment, kind=RefundKind.CUSTOMER, amount=wanted, reason=reason.strip()
    )
    refund_machine.record_creation(session, refund.id, RefundStatus.REQUESTED)
    return refund


def list_for_topup(session: Session, card: Card, order_id: str) -> list[Refund]:
    return list(repository.list_for_order(session, _order_of(session, card, order_id).id))


def _order_of(session: Session, card: Card, order_id: str) -> TopupOrder:
    order = topup_repository.get_for_card(session, order_id, card.id)
    if order is None:
        raise TopupNotFound()
    return order


def _locked(session: Session, order_id: str) -> TopupOrder:
    order = repository.lock_order(session, order_id)
    assert order is not None
    return order


def _new_refund(
    session: Session,
    order: TopupOrder,
    payment: Payment,
    *,
    kind: RefundKind,
    amount: int,
    reason: str,
    status: RefundStatus = RefundStatus.REQUESTED,
) -> Refund:
    now = clock.now()
    refund = Refund(
        id=new_id("rfd"),
        order_id=order.id,
        payment_id=payment.id,
        card_id=order.card_id,
        kind=kind.value,
        amount=amount,
        currency=payment.currency,
        status=status.value,
        reason=reason[:500],
        reversals=[],
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    return refund


# -- deciding (the back office calls these) -------------------------------------------------------
def approve(session: Session, refund_id: str, *, staff_ref: str, reason: str) -> Refund:
    """requested -> approved: take the value back from the card first, then queue the gateway call.
    Raises RefundNoLongerAvailable when the card spent it meanwhile (nothing changes)."""
    order = _locked(session, _get(session, refund_id).order_id)
    refund = _get(session, refund_id)  # read again under the order's lock
    if refund.status != RefundStatus.REQUESTED.value:
        raise RefundNotPending()
    value = policy.refundable(session, order, exclude=refund.id)
    try:
        reversals = policy.reversals_for(value, refund.amount)
    except policy.NotRefundable as exc:
        raise RefundNoLongerAvailable() from exc
    if not refund_machine.transition(
        session,
        refund.id,
        RefundStatus.REQUESTED,
        RefundStatus.APPROVED,
        reason=f"approved by {staff_ref}"[:200],
        staff_ref=staff_ref[:64],
        decision_reason=reason[:500],
        decided_at=clock.now(),
        reversals=reversals,
    ):
        raise RefundNotPending()
    for item in reversals:
        purpose, suffix = policy.reversal_route(item)
        try:
            ledger.transfer(
                session,
                key=f"{refund.id}:reverse:{suffix}",
                debit=policy.account_of(session, int(item["account_id"])),
                credit=ledger.operator_account(session, purpose, str(item["asset"])),
                amount=int(item["amount"]),
                reason="refund",
                reference=refund.order_id,
            )
        except ledger.InsufficientBalance as exc:  # spent between the check and the transfer
            raise RefundNoLongerAvailable() from exc
        if "allowance_id" in item:  # the pack is gone: no longer offered to charging
            ledger_repository.mark_allowance_expired(session, int(item["allowance_id"]), clock.now())
    enqueue(session, "refund.submit", {"refund_id": refund.id}, dedupe_key=f"{refund.id}:submit")
    log.info("refund.approved", refund_id=refund.id, staff_ref=staff_ref, amount=refund.amount)
    return _get(session, refund.id)


def reject(session: Session, refund_id: str, *, staff_ref: str, reason: str) -> Refund:
    refund = _get(session, refund_id)
    if not refund_machine.transition(
        session,
        refund.id,
        RefundStatus.REQUESTED,
        RefundStatus.REJECTED,
        reason=f"rejected by {staff_ref}"[:200],
        staff_ref=staff_ref[:64],
        decision_reason=reason[:500],
        decided_at=clock.now(),
        completed_at=clock.now(),
    ):
        raise RefundNotPending()
    _text(session, refund, "refund_rejected")
    log.info("refund.rejected", refund_id=refund.id, staff_ref=staff_ref)
    return _get(session, refund.id)


def list_pending(session: Session, *, limit: int = 100) -> list[Refund]:
    return list(repository.list_by_status(session, [RefundStatus.REQUESTED.value], limit))


def request_for_cancelled_card(session: Session, order_id: str, *, reason: str) -> Refund:
    """A supervisor cancelled a new card's order before its eSIM was installed: a refund of what of the
    starter product is still unused, `requested`, for finance to approve or reject as every refund is."""
    order = _locked(session, order_id)
    value = policy.refundable(session, order)
    if value.amount <= 0:
        raise TopupNotRefundable()
    payment = repository.succeeded_payment_for_order(session, order.id)
    assert payment is not None  # policy.refundable checked it
    refund = _new_refund(
        session, order, payment, kind=RefundKind.CARD_CANCELLED, amount=value.amount, reason=reason.strip()
    )
    refund_machine.record_creation(session, refund.id, RefundStatus.REQUESTED)
    log.info("refund.card_cancelled", refund_id=refund.id, order_id=order_id, amount=value.amount)
    return refund


def refund_late_payment(session: Session, payment_id: str) -> Refund | None:
    """Money landed on an order that had closed: refund all of it, approved by the system (nothing was
    credited to the card, so nothing is reversed). Called once, by the payment's winning transition."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        return None
    order = session.get(TopupOrder, payment.order_id)
    assert order is not None
    refund = _new_refund(
        session,
        order,
        payment,
        kind=RefundKind.LATE_PAYMENT,
        amount=payment.amount,
        reason="Paid after the order had closed",
        status=RefundStatus.APPROVED,
    )
    refund.staff_ref = SYSTEM
    refund.decided_at = clock.now()
    refund_machine.record_creation(session, refund.id, RefundStatus.APPROVED)
    enqueue(session, "refund.submit", {"refund_id": refund.id}, dedupe_key=f"{refund.id}:submit")
    log.warning("refund.late_payment", refund_id=refund.id, payment_id=payment_id, amount=payment.amount)
    return refund


def retry_late_payment(session: Session, refund_id: str, *, staff_ref: str) -> Refund:
    """Staff retry a failed late-payment refund: a new refund of the same money (a new id, so the gateway
    sees a new request), approved at once, pointing at the failed one. Once per failed refund."""
    failed = _get(session, refund_id)
    _locked(session, failed.order_id)
    failed = _get(session, refund_id)
    if (
        failed.kind != RefundKind.LATE_PAYMENT.value
        or failed.status != RefundStatus.FAILED.value
        or repository.get_retry_of(session, failed.id) is not None
    ):
        raise RefundNotRetryable()
    payment = session.get(Payment, failed.payment_id)
    order = session.get(TopupOrder, failed.order_id)
    assert payment is not None
    assert order is not None
    refund = _new_refund(
        session,
        order,
        payment,
        kind=RefundKind.LATE_PAYMENT,
        amount=failed.amount,
        reason=failed.reason,
        status=RefundStatus.APPROVED,
    )
    refund.staff_ref = staff_ref[:64]
    refund.decided_at = clock.now()
    refund.retry_of = failed.id
    session.flush()
    refund_machine.record_creation(session, refund.id, RefundStatus.APPROVED)
    enqueue(session, "refund.submit", {"refund_id": refund.id}, dedupe_key=f"{refund.id}:submit")
    log.warning("refund.late_payment_retried", refund_id=refund.id, retry_of=failed.id, staff_ref=staff_ref)
    return refund


def retry_cancelled_card(session: Session, refund_id: str, *, staff_ref: str, reason: str) -> Refund:
    """Finance retries a cancelled card's refund that the gateway refused or finance itself rejected (it
    is on the "needs attention" list until then): a new refund of what is still refundable, pointing at
    the old one, approved by the one retrying (its value leaves the closed card again, as at approval).
    Once per failed or rejected refund."""
    old = _get(session, refund_id)
    order = _locked(session, old.order_id)
    old = _get(session, refund_id)
    if (
        old.kind != RefundKind.CARD_CANCELLED.value
        or old.status not in (RefundStatus.FAILED.value, RefundStatus.REJECTED.value)
        or repository.get_retry_of(session, old.id) is not None
    ):
        raise RefundNotRetryable()
    payment = session.get(Payment, old.payment_id)
    assert payment is not None
    value = policy.refundable(session, order)
    if value.amount <= 0:
        raise RefundNoLongerAvailable()
    refund = _new_refund(
        session, order, payment, kind=RefundKind.CARD_CANCELLED, amount=value.amount, reason=old.reason
    )
    refund.retry_of = old.id
    session.flush()
    refund_machine.record_creation(session, refund.id, RefundStatus.REQUESTED)
    log.warning("refund.card_cancelled_retried", refund_id=refund.id, retry_of=old.id, staff_ref=staff_ref)
    return approve(session, refund.id, staff_ref=staff_ref, reason=reason or "retry")


# -- paying back (jobs) ---------------------------------------------------------------------------
def submit(database: Database, refund_id: str) -> None:
    """The `refund.submit` job: approved -> processing, call the gateway with no transaction open,
    record its answer. No answer raises, and the job retries: the gateway dedupes on our refund id.

    A retry (the refund was already `processing`: an earlier attempt may have reached the gateway) that
    the gateway refuses is not taken at its word: the refund is queried first, since the refusal may be
    the gateway saying that it already paid it back (Stripe once its idempotency key has lapsed)."""
    with database.transaction() as session:
        refund = repository.get(session, refund_id)
        if refund is None:
            return
        retry = refund.status == RefundStatus.PROCESSING.value
        if refund.status == RefundStatus.APPROVED.value:
            refund_machine.transition(
                session, refund.id, RefundStatus.APPROVED, RefundStatus.PROCESSING, reason="sent to gateway"
            )
        elif not retry:
            return
        request, provider_name = _gateway_request(session, refund)
    answer = _call(database, provider_name, lambda p, s: p.refund(s, request))
    if retry and answer.outcome is RefundOutcome.FAILED:
        log.warning("refund.retry_refused", refund_id=refund_id, detail=answer.detail)
        answer = _call(database, provider_name, lambda p, s: p.query_refund(s, request))
    with database.transaction() as session:
        record_answer(session, refund_id, answer)


def settle(database: Database, refund_id: str) -> None:
    """The `refund.settle` job: ask the gateway about a refund it is still working on."""
    with database.reading() as session:
        refund = repository.get(session, refund_id)
        if refund is None or refund.status != RefundStatus.PROCESSING.value:
            return
        request, provider_name = _gateway_request(session, refund)
    answer = _call(database, provider_name, lambda p, s: p.query_refund(s, request))
    with database.transaction() as session:
        record_answer(session, refund_id, answer, queue_settle=False)
    if answer.outcome is RefundOutcome.PROCESSING:
        raise RefundStillProcessing(refund_id)


def _call(database: Database, provider_name: str, call: Any) -> RemoteRefund:
    provider = get_provider(provider_name)
    try:
        if is_remote(provider):
            result: RemoteRefund = call(provider, None)
            return result
        with database.transaction() as session:
            result = call(provider, session)
            return result
    except GatewayRejected as exc:
        return RemoteRefund(RefundOutcome.FAILED, detail=str(exc) or "rejected")


def _gateway_request(session: Session, refund: Refund) -> tuple[RefundRequest, str]:
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    request = RefundRequest(
        refund_id=refund.id,
        payment_id=payment.id,
        provider_reference=payment.provider_reference,
        transaction_id=payment.provider_transaction_id,
        amount=refund.amount,
        currency=refund.currency,
        payment_amount=payment.amount,
        reason=refund.reason,
        reference=refund.provider_reference,
    )
    return request, payment.provider


def record_answer(
    session: Session, refund_id: str, answer: RemoteRefund, *, queue_settle: bool = True
) -> None:
    if answer.outcome is RefundOutcome.SUCCEEDED:
        complete_succeeded(session, refund_id, reference=answer.reference, reason="gateway answered")
    elif answer.outcome is RefundOutcome.FAILED:
        complete_failed(session, refund_id, detail=answer.detail or "gateway refused")
    else:
        if answer.reference:
            _set_reference(session, refund_id, answer.reference)
        if queue_settle:
            enqueue(
                session,
                "refund.settle",
                {"refund_id": refund_id},
                dedupe_key=f"{refund_id}:settle",
                run_at=clock.now() + timedelta(seconds=SETTLE_DELAY_SECONDS),
                max_attempts=SETTLE_MAX_ATTEMPTS,
            )


def apply_gateway_outcome(
    session: Session, refund_id: str, outcome: str, *, reference: str | None, reason: str
) -> None:
    """A verified refund notification (WeChat Pay, Stripe). Repeats and stale ones change nothing."""
    if outcome == RefundOutcome.SUCCEEDED.value:
        complete_succeeded(session, refund_id, reference=reference, reason=reason)
    elif outcome == RefundOutcome.FAILED.value:
        complete_failed(session, refund_id, detail=reason)


def complete_succeeded(session: Session, refund_id: str, *, reference: str | None, reason: str) -> bool:
    refund = repository.get(session, refund_id)
    if refund is None or not refund_machine.transition(
        session,
        refund_id,
        RefundStatus.PROCESSING,
        RefundStatus.SUCCEEDED,
        reason=reason[:200],
        completed_at=clock.now(),
    ):
        return False
    if reference:
        _set_reference(session, refund_id, reference)
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    ledger.transfer(
        session,
        key=f"{refund.id}:refunded",
        debit=ledger.operator_account(session, "sales", refund.currency),
        credit=ledger.operator_account(session, f"gateway:{payment.provider}", refund.currency),
        amount=refund.amount,
        reason="refund",
        reference=refund.order_id,
    )
    _text(session, refund, "refund_succeeded")
    log.info("refund.succeeded", refund_id=refund_id, amount=refund.amount)
    return True


def complete_failed(session: Session, refund_id: str, *, detail: str) -> bool:
    """The gateway will not pay it back: the card gets back exactly what approval took."""
    refund = repository.get(session, refund_id)
    if refund is None or not refund_machine.transition(
        session,
        refund_id,
        RefundStatus.PROCESSING,
        RefundStatus.FAILED,
        reason=detail[:200],
        completed_at=clock.now(),
        failure_reason=detail[:200],
    ):
        return False
    for item in refund.reversals:
        account = policy.account_of(session, int(item["account_id"]))
        purpose, suffix = policy.reversal_route(item)
        ledger.transfer(
            session,
            key=f"{refund.id}:restore:{suffix}",
            debit=ledger.operator_account(session, purpose, str(item["asset"])),
            credit=account,
            amount=int(item["amount"]),
            reason="refund_failed",
            reference=refund.order_id,
        )
        if "allowance_id" in item:
            session.execute(
                update(Allowance)
                .where(Allowance.id == int(item["allowance_id"]))
                .values(expired_at=None)
                .execution_options(synchronize_session=False)
            )
    REFUNDS_FAILED.labels(refund.kind).inc()
    if refund.kind == RefundKind.LATE_PAYMENT.value:
        # Nobody is texted: the payer's money is still with us. It is listed under "needs attention" in
        # the back office (/admin/refunds), counted in roamcard_refunds_needing_attention, until retried.
        log.error("refund.late_payment_failed", refund_id=refund_id, detail=detail)
    else:
        _text(session, refund, "refund_failed")
    log.warning("refund.failed", refund_id=refund_id, detail=detail)
    return True


def _set_reference(session: Session, refund_id: str, reference: str) -> None:
    session.execute(
        update(Refund)
        .where(Refund.id == refund_id)
        .values(provider_reference=reference[:128])
        .execution_options(synchronize_session=False)
    )


def _text(session: Session, refund: Refund, template: str) -> None:
    card = session.get(Card, refund.card_id)
    assert card is not None
    notifications.queue_sms(
        session,
        card,
        template,
        key=f"{refund.id}:{template}",
        refund_id=refund.id,
        order_id=refund.order_id,
        amount=Money(refund.amount, refund.currency),
    )


def _get(session: Session, refund_id: str) -> Refund:
    refund = repository.get(session, refund_id)
    if refund is None:
        raise RefundNotFound()
    return refund
