"""What an agent sees and does on a caller's card. Each action is one call into an existing service
(top-ups, vouchers, card passwords, refunds), wrapped so that it is written to the audit log with its
before/after state and the reason the agent gave — whether it succeeds or fails. Staff never see a
service password or PIN: a new password goes only to the bound phone, a PIN is passed on and forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.audit.service import Actor
from roamcard.auth import attempts
from roamcard.auth import repository as auth_repository
from roamcard.backoffice import repository
from roamcard.card import numbers, passwords, settings_repository
from roamcard.card import service as card_service
from roamcard.card.service import CardOverview
from roamcard.card.states import CardStatus
from roamcard.config import get_settings
from roamcard.db import attempt
from roamcard.dispute import repository as dispute_repository
from roamcard.dispute import service as dispute_service
from roamcard.errors import AppError, Conflict, NotFound, ValidationFailed
from roamcard.ivr.payment_link import phone_products, product_name, send_payment_link
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.ledger.formatting import describe_amount
from roamcard.models import (
    Card,
    Dispute,
    InboxEvent,
    Notification,
    Payment,
    Product,
    Refund,
    StateTransition,
    TopupOrder,
)
from roamcard.notification import repository as notification_repository
from roamcard.notification import service as notifications
from roamcard.notification.templates import SECRET_PARAMS
from roamcard.payment import repository as payment_repository
from roamcard.promotion import labels as promotion_labels
from roamcard.refund import attention as refund_attention
from roamcard.refund import repository as refund_repository
from roamcard.refund import service as refund_service
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext
from roamcard.topup import repository as topup_repository
from roamcard.topup.service.create import NewOrder
from roamcard.topup.states import Channel, TopupStatus

T = TypeVar("T")
HISTORY_LIMIT = 20
REASON_MAX_LENGTH = 500
# SMS whose text carries a secret: the console lists them without their text.
SECRET_TEMPLATES = frozenset(SECRET_PARAMS)


class CardNotFound(NotFound):
    code = "console_card_not_found"
    message = "No card matches this card number or phone number."


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "There is no such recharge on this card."


class ReceiptNotAvailable(Conflict):
    code = "receipt_not_available"
    message = "Only a completed recharge has a receipt."


class CardStatusUnchanged(Conflict):
    code = "card_status_unchanged"
    message = "The card is already {status}."


class ActionFailed(AppError):
    """An action's own error, after its failure was written to the audit log (so that entry is kept)."""

    keeps_changes = True

    def __init__(self, error: AppError) -> None:
        super().__init__(error.message, headers=error.headers, **error.params)
        self.status_code = error.status_code
        self.code = error.code
        self.original = error


# -- finding and reading a card -------------------------------------------------------------------
def find_cards(session: Session, query: str) -> Sequence[Card]:
    """A card number (spaces allowed) or a phone number in international form (+86…)."""
    text = query.strip()
    digits = "".join(text.split()).replace("-", "")
    if digits.startswith("89") and digits.isdigit():
        try:
            card = repository.get_card_by_number(session, numbers.normalise_card_number(digits))
        except numbers.InvalidCardNumber:
            card = None
        return [card] if card else []
    candidate = text if text.startswith("+") else "+" + digits.lstrip("0")
    try:
        phone = numbers.normalise_phone(candidate)
    except numbers.InvalidPhone:
        return []
    return repository.list_cards_by_phone(session, phone)


def get_card(session: Session, card_number: str) -> Card:
    card = repository.get_card_by_number(session, card_number)
    if card is None:
        raise CardNotFound()
    return card


@dataclass(frozen=True)
class OrderView:
    order: TopupOrder
    payment: Payment | None
    events: Sequence[StateTransition]


@dataclass(frozen=True)
class SmsView:
    notification: Notification
    text: str | None  # None: the message carries a secret and is not shown


@dataclass(frozen=True)
class CardFile:
    card: Card
    overview: CardOverview
    orders: list[OrderView]
    messages: list[SmsView]
    products: Sequence[Product]
    locked_until: datetime | None  # sign-in locked after wrong passwords


def card_file(session: Session, context: StaffContext, card: Card) -> CardFile:
    """Everything the console shows about a card. Looking is an action too: it is audited."""
    context.require(Permission.VIEW_CARD)
    orders = [
        OrderView(
            order=order,
            payment=payment_repository.get_latest_for_order(session, order.id),
            events=topup_repository.list_events(session, order.id),
        )
        for order in topup_repository.list_history(session, card.id, limit=HISTORY_LIMIT)
    ]
    messages = [
        SmsView(n, None if n.template in SECRET_TEMPLATES else n.body)
        for n in notification_repository.list_for_card(session, card.id)
    ]
    audit.record(
        session, context.actor, "card.viewed", target_type="card", target_id=card.card_number, card_id=card.id
    )
    return CardFile(
        card=card,
        overview=card_service.overview(session, card),
        orders=orders,
        messages=messages,
        products=phone_products(session, card),
        locked_until=attempts.locked_until(session, attempts.CARD, card.card_number),
    )


# -- acting on a card ----------------------------------------------------------------------------------
def check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed("reason", "Give the reason for this action.")
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationFailed("reason", "Keep the reason under {limit} characters.", limit=REASON_MAX_LENGTH)
    return text


def audited(
    session: Session,
    context: StaffContext,
    permission: Permission,
    action: str,
    *,
    target_type: str,
    target_id: str,
    card: Card | None,
    reason: str | None,
    before: dict[str, Any] | None,
    run: Callable[[], tuple[T, dict[str, Any]]],
) -> T:
    """Check the role and the reason, run the action in a savepoint, and write one audit entry either way:
    `action` with its after-state, or `action + ".failed"` with the error's code."""
    context.require(permission)
    return _recorded(
        session,
        context.actor,
        action,
        target_type=target_type,
        target_id=target_id,
        card=card,
        reason=reason,
        before=before,
        run=run,
    )


# For the console's other route modules (backoffice/campaigns.py): the same check, savepoint and audit entry.


def _recorded(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str,
    card: Card | None,
    reason: str | None,
    before: dict[str, Any] | None,
    run: Callable[[], tuple[T, dict[str, Any]]],
) -> T:
    why = check_reason(reason)
    card_id = card.id if card is not None else None
    try:
        with attempt(session):
            result, after = run()
    except AppError as error:
        audit.record(
            session,
            actor,
            action + ".failed",
            target_type=target_type,
            target_id=target_id,
            card_id=card_id,
            before=before,
            after={"error": error.code},
            reason=why,
        )
        raise ActionFailed(error) from error
    audit.record(
        session,
        actor,
        action,
        target_type=target_type,
        target_id=target_id,
        card_id=card_id,
        before=before,
        after=after,
        reason=why,
    )
    return result


def _balance(session: Session, card: Card) -> str:
    view = card_service.overview(session, card)
    return describe_amount(view.balance.currency, view.balance.amount, "en")


def send_link(
    session: Session, context: StaffContext, card: Card, product_id: str, reason: str | None
) -> NewOrder:
    def run() -> tuple[NewOrder, dict[str, Any]]:
        link = send_payment_link(session, card, product_id, channel=Channel.AGENT)
        price = Money(link.order.price_amount, link.order.price_currency).format("en")
        return link.order, {"order_id": link.order.id, "product_id": link.order.product_id, "price": price}

    return audited(
        session,
        context,
        Permission.SEND_PAYMENT_LINK,
        "card.payment_link_sent",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before=None,
        run=run,
    )


def redeem_voucher(
    session: Session, context: StaffContext, card: Card, pin: str, reason: str | None
) -> NewOrder:
    """The caller reads the PIN out, the agent types it in; it goes to the voucher service, nowhere else."""
    pin = "".join(pin.split())

    def run() -> tuple[NewOrder, dict[str, Any]]:
        from roamcard.voucher import service as voucher_service

        # The brute-force limit follows the caller's card, not the agent, so one mistyping caller
        # cannot lock an agent out for everybody else.
        order = voucher_service.redeem(
            session, card, pin, channel=Channel.AGENT, client_key=f"staff:{context.staff.id}:card:{card.id}"
        )
        return order, {"order_id": order.id, "balance": _balance(session, card)}

    return audited(
        session,
        context,
        Permission.REDEEM_VOUCHER,
        "card.voucher_redeemed",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before={"balance": _balance(session, card)},
        run=run,
    )


def reset_password(session: Session, context: StaffContext, card: Card, reason: str | None) -> None:
    """A new random service password, sent only to the bound phone; every signed-in session of the card
    ends and a lock-out is lifted (the agent has verified the caller)."""

    def run() -> tuple[None, dict[str, Any]]:
        now = clock.now()
        new_password = numbers.new_password()
        settings_repository.set_password_hash(session, card.id, passwords.hash_password(new_password))
        ended = auth_repository.revoke_sessions(session, card.id, now)
        attempts.clear(session, attempts.CARD, card.card_number)
        notifications.queue_sms(
            session,
            card,
            "password_reset",
            key=f"password-reset:{card.id}:{now.isoformat()}",
            card_tail=card.card_number[-4:],
            password=new_password,
        )
        session.refresh(card)
        return None, {"sessions_ended": ended, "sms_to": numbers.mask_phone(card.phone), "locked": False}

    locked = attempts.locked_until(session, attempts.CARD, card.card_number) is not None
    audited(
        session,
        context,
        Permission.RESET_PASSWORD,
        "card.password_reset",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before={"locked": locked},
        run=run,
    )


def set_status(
    session: Session, context: StaffContext, card: Card, target: CardStatus, reason: str | None
) -> None:
    """Suspend (every signed-in session ends) or resume a card from the console."""
    context.require(Permission.SUSPEND_CARD if target is CardStatus.SUSPENDED else Permission.UNSUSPEND_CARD)
    change_status(session, context.actor, card, target, reason)


def change_status(session: Session, actor: Actor, card: Card, target: CardStatus, reason: str | None) -> None:
    """Suspend or resume through the card's state machine, audited as `card.suspended` / `card.unsuspended`
    (or `….failed`) with the reason; the console and `roamcard cards suspend|resume` both come here."""
    change = card_service.suspend if target is CardStatus.SUSPENDED else card_service.resume
    before = {"status": card.status}

    def run() -> tuple[None, dict[str, Any]]:
        if not change(session, card, reason=check_reason(reason)):
            raise CardStatusUnchanged(status=target.value)
        return None, {"status": card.status}

    _recorded(
        session,
        actor,
        "card.suspended" if target is CardStatus.SUSPENDED else "card.unsuspended",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before=before,
        run=run,
    )


def resend_receipt(
    session: Session, context: StaffContext, card: Card, order_id: str, reason: str | None
) -> None:
    def run() -> tuple[None, dict[str, Any]]:
        order = topup_repository.get_for_card(session, order_id, card.id)
        if order is None:
            raise OrderNotFound()
        if order.status != TopupStatus.FULFILLED.value:
            raise ReceiptNotAvailable()
        language = card.language
        now = clock.now()
        notifications.queue_sms(
            session,
            card,
            "receipt",
            key=f"receipt:{order.id}:{now.isoformat()}",
            order_id=order.id,
            # As the fulfilment SMS: the product and what its promotions gave (promotion/labels.py).
            product=promotion_labels.with_summary(product_name(order, language), order.promotions, language),
            price=Money(order.price_amount, order.price_currency),
        )
        return None, {"sms_to": numbers.mask_phone(card.phone)}

    audited(
        session,
        context,
        Permission.RESEND_RECEIPT,
        "topup.receipt_resent",
        target_type="topup",
        target_id=order_id,
        card=card,
        reason=reason,
        before=None,
        run=run,
    )


def pending_refunds(session: Session, context: StaffContext) -> list[Refund]:
    context.require(Permission.DECIDE_REFUND)
    return refund_service.list_pending(session)


def decide_refund(
    session: Session, context: StaffContext, refund_id: str, *, approve: bool, reason: str | None
) -> Refund:
    """Finance approves (the value leaves the card, then the gateway pays it back) or rejects a refund,
    through the refunds service."""
    context.require(Permission.DECIDE_REFUND)
    found = refund_repository.get(session, refund_id)
    before = {"status": found.status, "amount": found.amount, "currency": found.currency} if found else None

    def run() -> tuple[Refund, dict[str, Any]]:
        decide = refund_service.approve if approve else refund_service.reject
        refund = decide(
            session,
            refund_id,
            staff_ref=f"staff:{context.staff.id}:{context.staff.email}"[:64],
            reason=check_reason(reason),
        )
        return refund, {"status": refund.status}

    return audited(
        session,
        context,
        Permission.DECIDE_REFUND,
        "refund.approved" if approve else "refund.rejected",
        target_type="refund",
        target_id=refund_id,
        card=session.get(Card, found.card_id) if found else None,
        reason=reason,
        before=before,
        run=run,
    )


def refunds_needing_attention(
    session: Session, context: StaffContext
) -> list[refund_attention.NeedsAttention]:
    context.require(Permission.DECIDE_REFUND)
    return refund_attention.list_needing_attention(session)


def retry_refund(session: Session, context: StaffContext, refund_id: str, *, reason: str | None) -> Refund:
    """Finance retries a refund that needs attention (its job died, or a late payment's refund failed)."""
    context.require(Permission.DECIDE_REFUND)
    found = refund_repository.get(session, refund_id)
    before = {"status": found.status, "kind": found.kind, "amount": found.amount} if found else None

    def run() -> tuple[Refund, dict[str, Any]]:
        retried = refund_attention.retry(
            session,
            refund_id,
            staff_ref=f"staff:{context.staff.id}:{context.staff.email}"[:64],
            reason=reason or "",
        )
        after: dict[str, Any] = {"problem": retried.problem, "refund_id": retried.refund.id}
        if retried.job_id is not None:
            after["job_id"] = retried.job_id
        return retried.refund, after

    return audited(
        session,
        context,
        Permission.DECIDE_REFUND,
        "refund.retried",
        target_type="refund",
        target_id=refund_id,
        card=session.get(Card, found.card_id) if found else None,
        reason=reason,
        before=before,
        run=run,
    )


# -- payments needing attention, and chargebacks (finance) ---------------------------------------------
@dataclass(frozen=True)
class PaymentIssues:
    final_swept: Sequence[Payment]  # still unknown at the final-sweep delay: settled or expired by it
    held: Sequence[InboxEvent]  # verified notifications whose amount did not match, held for staff
    stuck: Sequence[InboxEvent]  # re-driven and still not handled


def payment_issues(session: Session, context: StaffContext) -> PaymentIssues:
    context.require(Permission.VIEW_PAYMENT_ISSUES)
    before = clock.now() - timedelta(seconds=get_settings().inbox_redrive_after_seconds)
    return PaymentIssues(
        final_swept=payment_repository.list_final_swept(session),
        held=payment_repository.list_held_events(session),
        stuck=payment_repository.list_stuck_events(session, before),
    )


def disputes(session: Session, context: StaffContext) -> Sequence[Dispute]:
    context.require(Permission.DECIDE_DISPUTE)
    return dispute_repository.list_recent(session)


def release_dispute_hold(
    session: Session, context: StaffContext, dispute_id: str, reason: str | None
) -> Dispute:
    """Finance decided: the card may top up again (as far as this dispute goes). Audited."""
    found = session.get(Dispute, dispute_id)
    before = {"status": found.status, "hold": found.hold_released_at is None} if found else None

    def run() -> tuple[Dispute, dict[str, Any]]:
        dispute = dispute_service.release_hold(
            session,
            dispute_id,
            staff_ref=f"staff:{context.staff.id}:{context.staff.email}"[:64],
            reason=check_reason(reason),
        )
        card = session.get(Card, dispute.card_id)
        return dispute, {
            "status": dispute.status,
            "hold": False,
            "card_held": bool(card and card.topup_held_at),
        }

    return audited(
        session,
        context,
        Permission.DECIDE_DISPUTE,
        "dispute.hold_released",
        target_type="dispute",
        target_id=dispute_id,
        card=session.get(Card, found.card_id) if found else None,
        reason=reason,
        before=before,
        run=run,
    )
