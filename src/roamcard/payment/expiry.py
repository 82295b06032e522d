"""Expiry and the final sweep: ask the gateway first, then expire and close; nothing stays unknown.

* An order past its payment window: its gateway is asked before anything expires (`expire_unpaid`; a remote
  gateway through the `payment.expire_after_query` job, with no transaction open), so a payment made in the
  last seconds fulfils the order instead of becoming a late payment. No answer still expires it.
* The close at the gateway that follows answers "already paid" when the payer got there first: that is a
  late payment, recorded and refunded (`close_at_gateway`), never dropped.
* A payment still `unknown` `ROAMCARD_PAYMENT_FINAL_SWEEP_AFTER_SECONDS` after it was opened (its settle job
  gave up) gets one last query (`final_sweep`): paid, settle; failed, fail; anything else, expire and
  close. It is marked (`final_sweep_at`) so the back office lists it.

Lock order (docs/CONVENTIONS.md, "Lock order"): a payment's row before its order's row, everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.metrics import PAYMENTS_FINAL_SWEPT
from roamcard.models import Payment
from roamcard.payment import repository, service
from roamcard.payment.providers import get_provider, is_remote
from roamcard.payment.providers.base import (
    AlreadyPaid,
    GatewayMismatch,
    GatewayRejected,
    GatewayUnavailable,
    RemotePayment,
    RemoteStatus,
)
from roamcard.payment.states import PaymentStatus, payment_machine
from roamcard.topup.states import TopupStatus, topup_machine

log = structlog.get_logger("roamcard.payment")
as_remote_payment = service.as_remote_payment
mark_failed = service.mark_failed


def expire_unpaid(session: Session, order_ids: Sequence[str]) -> None:
    """Orders whose payment window passed. Each gateway is asked first, so a payment made in the last
    seconds (its notification still on the way) fulfils the order instead of becoming a late payment.
    An in-process gateway is asked right here; a remote one by a job, with no transaction open."""
    open_payments: dict[str, list[Payment]] = {order_id: [] for order_id in order_ids}
    for payment in repository.list_open_for_orders(session, order_ids):
        open_payments[payment.order_id].append(payment)
    for order_id, payments in open_payments.items():
        if payments:
            _ask_before_expiring(session, payments)
        else:
            topup_machine.transition(
                session,
                order_id,
                TopupStatus.PENDING_PAYMENT,
                TopupStatus.EXPIRED,
                reason="payment window passed",
            )


def _ask_before_expiring(session: Session, payments: Sequence[Payment]) -> None:
    for payment in payments:
        if payment.status != PaymentStatus.PENDING.value:
            continue
        provider = get_provider(payment.provider)
        if is_remote(provider):
            enqueue(
                session,
                "payment.expire_after_query",
                {"payment_id": payment.id},
                dedupe_key=f"{payment.id}:expire",
            )
            continue
        try:
            remote: RemotePayment | None = as_remote_payment(provider.query(session, payment))
        except GatewayUnavailable:
            remote = None
        _expire_or_settle(session, payment.id, remote)


def expire_after_query(database: Database, payment_id: str) -> None:
    """The `payment.expire_after_query` job. No answer from the gateway still expires the payment: the
    close that follows retries, and a payment it finds is treated as a late payment."""
    with database.reading() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status != PaymentStatus.PENDING.value:
            return
    try:
        remote: RemotePayment | None = as_remote_payment(get_provider(payment.provider).query(None, payment))
    except (GatewayUnavailable, GatewayRejected) as exc:
        log.warning("payment.expiry_query_unanswered", payment_id=payment_id, error=str(exc)[:200])
        remote = None
    with database.transaction() as session:
        _expire_or_settle(session, payment_id, remote)


def _expire_or_settle(session: Session, payment_id: str, remote: RemotePayment | None) -> None:
    if remote is not None and remote.status is RemoteStatus.SUCCEEDED:
        service.apply_success(session, payment_id, remote, reason="paid: found by the query before expiry")
        return
    payment = session.get(Payment, payment_id, populate_existing=True)
    if payment is not None:
        expire_payment(session, payment)


def expire_payment(
    session: Session, payment: Payment, *, source: PaymentStatus = PaymentStatus.PENDING
) -> None:
    """Expire the payment, then its order (payment before order), and close the payment at the gateway
    too, so a late payment cannot land silently. A remote gateway is closed by a job."""
    reason = "payment window passed" if source is PaymentStatus.PENDING else "final sweep: still unknown"
    if not payment_machine.transition(session, payment.id, source, PaymentStatus.EXPIRED, reason=reason):
        return
    order_source = TopupStatus.PENDING_PAYMENT if source is PaymentStatus.PENDING else TopupStatus.UNKNOWN
    topup_machine.transition(session, payment.order_id, order_source, TopupStatus.EXPIRED, reason=reason)
    provider = get_provider(payment.provider)
    if is_remote(provider):
        enqueue(
            session,
            "payment.close_at_gateway",
            {"payment_id": payment.id},
            dedupe_key=f"{payment.id}:close",
        )
        return
    try:
        provider.close(session, payment)
    except AlreadyPaid:
        remote = as_remote_payment(provider.query(session, payment))
        if remote.status is RemoteStatus.SUCCEEDED:
            service.apply_success(session, payment.id, remote, reason="paid before the close: a late payment")
    except GatewayUnavailable:
        log.warning("payment.close_unknown", payment_id=payment.id)


def close_at_gateway(database: Database, payment_id: str) -> None:
    """The `payment.close_at_gateway` job. No answer: raise, and the job retries. "Already paid": the
    money is there, so it is recorded as a late payment (and refunded), not dropped."""
    with database.reading() as session:
        payment = session.get(Payment, payment_id)
        if payment is None:
            return
    provider = get_provider(payment.provider)
    try:
        provider.close(None, payment)
        return
    except AlreadyPaid as exc:
        log.warning("payment.close_already_paid", payment_id=payment_id, detail=str(exc)[:200])
    remote = as_remote_payment(provider.query(None, payment))  # GatewayUnavailable -> retry
    if remote.status is not RemoteStatus.SUCCEEDED:
        log.info("payment.close_not_paid", payment_id=payment_id, remote_status=remote.status.value)
        return
    with database.transaction() as session:
        service.apply_success(session, payment_id, remote, reason="paid before the close: a late payment")


# -- the final sweep: nothing stays unknown forever -----------------------------------------------
def queue_final_sweep(session: Session, *, limit: int = 200) -> int:
    """Unknown payments opened longer ago than the final-sweep delay (their settle job has given up by
    then, or is about to): one `payment.final_sweep` job each."""
    cutoff = clock.now() - timedelta(seconds=get_settings().payment_final_sweep_after_seconds)
    queued = 0
    for payment_id in repository.list_unknown_for_final_sweep(session, cutoff, limit):
        queued += enqueue(
            session, "payment.final_sweep", {"payment_id": payment_id}, dedupe_key=f"{payment_id}:final-sweep"
        )
    return queued


def final_sweep(database: Database, payment_id: str) -> None:
    """Ask the gateway one last time: paid → settle (fulfil, or refund a late payment); failed or never
    made → fail; still open or no answer → expire, and close at the gateway. Either way the payment is
    marked, so the back office lists what needed it."""
    with database.reading() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status != PaymentStatus.UNKNOWN.value:
            return
    provider = get_provider(payment.provider)
    remote: RemotePayment | None = None
    if is_remote(provider):
        try:
            remote = as_remote_payment(provider.query(None, payment))
        except (GatewayUnavailable, GatewayRejected) as exc:
            log.warning("payment.final_sweep_unanswered", payment_id=payment_id, error=str(exc)[:200])
    with database.transaction() as session:
        if not is_remote(provider):
            try:
                remote = as_remote_payment(provider.query(session, payment))
            except GatewayUnavailable:
                remote = None
        _final_outcome(session, payment_id, remote)


def _final_outcome(session: Session, payment_id: str, remote: RemotePayment | None) -> None:
    marked = session.execute(
        update(Payment)
        .where(
            Payment.id == payment_id,
            Payment.status == PaymentStatus.UNKNOWN.value,
            Payment.final_sweep_at.is_(None),
        )
        .values(final_sweep_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return
    outcome = remote.status.value if remote is not None else "no answer"
    log.warning("payment.final_sweep", payment_id=payment_id, remote_status=outcome)
    PAYMENTS_FINAL_SWEPT.labels(outcome=outcome).inc()
    if remote is not None and remote.status is RemoteStatus.SUCCEEDED:
        # A mismatch leaves it unknown, listed for staff (apply_success logs it).
        with contextlib.suppress(GatewayMismatch), session.begin_nested():
            service.apply_success(session, payment_id, remote, reason="final sweep: paid")
        return
    if remote is not None and remote.status in (RemoteStatus.FAILED, RemoteStatus.NOT_FOUND):
        mark_failed(session, payment_id, reason=f"final sweep: {remote.status.value}")
        return
    payment = session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        return
    if remote is not None and remote.checkout is not None and payment.provider_reference is None:
        # Learnt only now (a create whose answer was lost): the close must know what to close.
        payment.provider_reference = remote.checkout.provider_reference
        payment.checkout_url = remote.checkout.checkout_url
        session.flush()
    expire_payment(session, payment, source=PaymentStatus.UNKNOWN)
