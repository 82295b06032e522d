"""Notifications from the real gateways: verified on the raw body with the gateway's own scheme (through
its SDK), checked against our payment (merchant, amount, currency), stored once in the inbox under the
gateway's own event id, and handled by the `payment.process_event` job.

What is stored is a small normalised record plus the raw body, so the job needs no keys to read it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import stripe as stripe_sdk
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import NotFound
from roamcard.kit.money import Money
from roamcard.models import Payment, Refund
from roamcard.payment.inbox import hold_mismatch
from roamcard.payment.providers import get_provider
from roamcard.payment.providers.alipay import AlipayProvider
from roamcard.payment.providers.stripe import StripeProvider
from roamcard.payment.providers.wechat_pay import WeChatPayProvider
from roamcard.payment.service import (
    WebhookRejected,
    WebhookUnknownPayment,
    store_in_inbox,
)

log = structlog.get_logger("roamcard.webhooks")


class WebhookWrongMerchant(WebhookRejected):
    status_code = 400
    code = "webhook_wrong_merchant"
    message = "The notification is for another merchant."


class GatewayNotConfigured(NotFound):
    code = "gateway_not_configured"
    message = "This payment gateway is not configured."


def _provider(name: str) -> Any:
    try:
        return get_provider(name)
    except KeyError:
        raise GatewayNotConfigured() from None


def _reject(
    source: str, reason: str, error: WebhookRejected | None = None, **context: Any
) -> WebhookRejected:
    log.warning("webhook.rejected", source=source, reason=reason, **context)
    return error or WebhookRejected()


def _store(
    session: Session, source: str, event_id: str, event_type: str, record: dict[str, Any], raw: str
) -> bool:
    body = json.dumps({**record, "raw": raw}, ensure_ascii=False, separators=(",", ":"))
    return store_in_inbox(session, source, event_id, event_type[:64], body.encode("utf-8"))


def _hold(
    session: Session, source: str, event_id: str, event_type: str, raw: str, *, subject: str, received: Any
) -> bool:
    """Verified, but the amount is not ours: acknowledged and held for staff (payment.service)."""
    body = json.dumps({"kind": "held", "subject": subject, "raw": raw}, ensure_ascii=False)
    return hold_mismatch(
        session,
        source,
        event_id,
        event_type,
        body.encode("utf-8"),
        payment_id=subject,
        received=str(received),
    )


def _payment(session: Session, source: str, payment_id: Any, provider: str) -> Payment:
    payment = session.get(Payment, str(payment_id)) if isinstance(payment_id, str) and payment_id else None
    if payment is None or payment.provider != provider:
        raise _reject(source, "unknown payment", WebhookUnknownPayment(), payment_id=str(payment_id))
    return payment


def _refund(session: Session, source: str, refund_id: Any, provider: str) -> Refund:
    refund = session.get(Refund, str(refund_id)) if isinstance(refund_id, str) and refund_id else None
    payment = session.get(Payment, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or payment.provider != provider:
        raise _reject(source, "unknown refund", WebhookUnknownPayment(), refund_id=str(refund_id))
    return refund


# -- Alipay ---------------------------------------------------------------------------------------
ALIPAY_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk"}


def parse_alipay_form(raw_body: bytes) -> dict[str, str]:
    """The form exactly as sent: percent-decoded in the charset it names, no key twice."""
    try:
        text = raw_body.decode("ascii")
        charset = "utf-8"
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
            if key == "charset":
                charset = ALIPAY_CHARSETS[value.lower()]
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, encoding=charset, errors="strict"
        )
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise ValueError("malformed form body") from exc
    params = dict(pairs)
    if len(params) != len(pairs):
        raise ValueError("a parameter is sent twice")
    return params


def accept_alipay_notification(session: Session, raw_body: bytes) -> bool:
    provider: AlipayProvider = _provider("alipay")
    try:
        params = parse_alipay_form(raw_body)
    except ValueError as exc:
        raise _reject("alipay", str(exc)) from exc
    if not provider.verify_notification(params):
        raise _reject("alipay", "signature does not verify", notify_id=params.get("notify_id"))
    if params.get("app_id") != provider.app_id or params.get("seller_id") != provider.seller_id:
        raise _reject(
            "alipay",
            "app_id or seller_id is not ours",
            WebhookWrongMerchant(),
            app_id=params.get("app_id"),
            seller_id=params.get("seller_id"),
        )
    notify_id = params.get("notify_id", "")
    if not notify_id or len(notify_id) > 128:
        raise _reject("alipay", "no notify_id")
    payment = _payment(session, "alipay", params.get("out_trade_no"), "alipay")
    status = params.get("trade_status", "")
    try:
        paid: Money | None = Money.from_decimal_string(params.get("total_amount", ""), payment.currency)
    except (ArithmeticError, ValueError):
        paid = None
    if paid is None or paid.amount != payment.amount:
        return _hold(
            session,
            "alipay",
            notify_id,
            f"trade_status.{status}",
            raw_body.decode("ascii"),
            subject=payment.id,
            received=params.get("total_amount", "")[:32],
        )
    outcome = {"TRADE_SUCCESS": "succeeded", "TRADE_FINISHED": "succeeded", "TRADE_CLOSED": "failed"}.get(
        status, "ignored"
    )
    record = {
        "kind": "payment",
        "payment_id": payment.id,
        "outcome": outcome,
        "transaction_id": params.get("trade_no"),
        "amount": payment.amount,
        "currency": payment.currency,
    }
    return _store(session, "alipay", notify_id, f"trade_status.{status}", record, raw_body.decode("ascii"))


# -- WeChat Pay -----------------------------------------------------------------------------------
WECHAT_HEADERS = (
    "Wechatpay-Serial",
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature-Type",
)


def accept_wechat_pay_notification(session: Session, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    provider: WeChatPayProvider = _provider("wechat_pay")
    wanted = {name: headers.get(name, "") for name in WECHAT_HEADERS}
    try:
        body = raw_body.decode("utf-8")
        opened = provider.open_notification(wanted, body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _reject("wechat_pay", str(exc)[:200]) from exc
    event_id = str(opened.get("id") or "")
    event_type = str(opened.get("event_type") or "")
    resource: dict[str, Any] = opened["resource"]
    if not event_id or len(event_id) > 128:
        raise _reject("wechat_pay", "no notification id")
    if resource.get("mchid") != provider.mchid:
        raise _reject("wechat_pay", "mchid is not ours", WebhookWrongMerchant(), mchid=resource.get("mchid"))
    amount = resource.get("amount") or {}
    if event_type.startswith("REFUND."):
        refund = _refund(session, "wechat_pay", resource.get("out_refund_no"), "wechat_pay")
        if amount.get("refund") != refund.amount:
            return _hold(
                session,
                "wechat_pay",
                event_id,
                event_type,
                body,
                subject=refund.id,
                received=amount.get("refund"),
            )
        status = str(resource.get("refund_status", ""))
        record: dict[str, Any] = {
            "kind": "refund",
            "refund_id": refund.id,
            "outcome": {"SUCCESS": "succeeded", "CLOSED": "failed", "ABNORMAL": "failed"}.get(
                status, "ignored"
            ),
            "reference": resource.get("refund_id"),
        }
        return _store(session, "wechat_pay", event_id, event_type, record, body)
    if "appid" in resource and resource.get("appid") != provider.appid:
        raise _reject("wechat_pay", "appid is not ours", WebhookWrongMerchant(), appid=resource.get("appid"))
    payment = _payment(session, "wechat_pay", resource.get("out_trade_no"), "wechat_pay")
    state = str(resource.get("trade_state", ""))
    if (amount.get("total"), amount.get("currency", "CNY")) != (payment.amount, payment.currency):
        received = f"{amount.get('total')} {amount.get('currency', 'CNY')}"
        return _hold(
            session,
            "wechat_pay",
            event_id,
            f"{event_type}.{state}",
            body,
            subject=payment.id,
            received=received,
        )
    record = {
        "kind": "payment",
        "payment_id": payment.id,
        "outcome": "succeeded" if state == "SUCCESS" else "ignored",
        "transaction_id": resource.get("transaction_id"),
        "amount": payment.amount,
        "currency": payment.currency,
    }
    return _store(session, "wechat_pay", event_id, f"{event_type}.{state}", record, body)


# -- Stripe ---------------------------------------------------------------------------------------
STRIPE_PAYMENT_EVENTS = {
    "checkout.session.completed": "paid_if_paid",
    "checkout.session.async_payment_succeeded": "paid_if_paid",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "failed",
    "payment_intent.succeeded": "succeeded",
    "payment_intent.canceled": "failed",
    # A declined card on the Checkout page may be tried again: the session's end decides, not this.
    "payment_intent.payment_failed": "ignored",
}
# Chargebacks. An inquiry (status warning_*) moves no money and is only logged.
STRIPE_DISPUTE_EVENTS = {
    "charge.dispute.created": "opened",
    "charge.dispute.funds_withdrawn": "opened",
    "charge.dispute.closed": "closed",
}
STRIPE_REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)


def accept_stripe_notification(session: Session, raw_body: bytes, signature_header: str | None) -> bool:
    provider: StripeProvider = _provider("stripe")
    try:
        provider.verify_notification(raw_body, signature_header, get_settings().webhook_tolerance_seconds)
        event = json.loads(raw_body)
    except (stripe_sdk.SignatureVerificationError, ValueError, StopIteration) as exc:
        raise _reject("stripe", str(exc)[:200]) from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise _reject("stripe", "not an event")
    event_id, event_type = str(event.get("id", "")), str(event.get("type", ""))
    if event.get("account") or bool(event.get("livemode")) != provider.livemode:
        raise _reject("stripe", "another account or mode", WebhookWrongMerchant(), event_id=event_id)
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if not event_id or len(event_id) > 128:
        raise _reject("stripe", "no event id")
    raw = raw_body.decode("utf-8")
    if event_type in STRIPE_REFUND_EVENTS:
        refund = _refund(session, "stripe", (obj.get("metadata") or {}).get("refund_id"), "stripe")
        if obj.get("amount") != refund.amount or str(obj.get("currency", "")).upper() != refund.currency:
            received = f"{obj.get('amount')} {obj.get('currency')}"
            return _hold(session, "stripe", event_id, event_type, raw, subject=refund.id, received=received)
        status = str(obj.get("status", ""))
        outcome = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(status, "ignored")
        record: dict[str, Any] = {
            "kind": "refund",
            "refund_id": refund.id,
            "outcome": outcome,
            "reference": obj.get("id"),
        }
        return _store(session, "stripe", event_id, event_type, record, raw)
    if event_type in STRIPE_DISPUTE_EVENTS:
        return _stripe_dispute(session, event_id, event_type, obj, raw)
    rule = STRIPE_PAYMENT_EVENTS.get(event_type)
    if rule is None:
        log.info("webhook.ignored", source="stripe", event_type=event_type)
        return False
    metadata = obj.get("metadata") or {}
    if event_type.startswith("checkout.session."):
        payment = _payment(
            session, "stripe", obj.get("client_reference_id") or metadata.get("payment_id"), "stripe"
        )
        paid, transaction = obj.get("amount_total"), obj.get("payment_intent")
    else:
        payment = _payment(session, "stripe", metadata.get("payment_id"), "stripe")
        paid, transaction = obj.get("amount_received") or obj.get("amount"), obj.get("id")
    if (paid, str(obj.get("currency", "")).upper()) != (payment.amount, payment.currency):
        received = f"{paid} {obj.get('currency')}"
        return _hold(session, "stripe", event_id, event_type, raw, subject=payment.id, received=received)
    outcome = rule
    if rule == "paid_if_paid":
        outcome = "succeeded" if obj.get("payment_status") in ("paid", "no_payment_required") else "ignored"
    record = {
        "kind": "payment",
        "payment_id": payment.id,
        "outcome": outcome,
        "transaction_id": transaction if isinstance(transaction, str) else None,
        "amount": payment.amount,
        "currency": payment.currency,
    }
    return _store(session, "stripe", event_id, event_type, record, raw)


def _stripe_dispute(session: Session, event_id: str, event_type: str, obj: dict[str, Any], raw: str) -> bool:
    """A dispute names the charge's PaymentIntent, which we learnt as the payment's transaction id."""
    intent = obj.get("payment_intent")
    intent_id = intent if isinstance(intent, str) else (intent or {}).get("id")
    payment = (
        session.scalars(
            select(Payment).where(Payment.provider == "stripe", Payment.provider_transaction_id == intent_id)
        ).first()
        if isinstance(intent_id, str) and intent_id
        else None
    )
    if payment is None:
        raise _reject("stripe", "dispute on an unknown payment", WebhookUnknownPayment(), event_id=event_id)
    amount, currency = obj.get("amount"), str(obj.get("currency", "")).upper()
    if not isinstance(amount, int) or not 0 < amount <= payment.amount or currency != payment.currency:
        return _hold(
            session, "stripe", event_id, event_type, raw, subject=payment.id, received=f"{amount} {currency}"
        )
    status = str(obj.get("status", ""))
    outcome = "ignored"
    if STRIPE_DISPUTE_EVENTS[event_type] == "opened" and not status.startswith("warning_"):
        outcome = "opened"
    elif STRIPE_DISPUTE_EVENTS[event_type] == "closed" and status in ("won", "lost"):
        outcome = status
    record: dict[str, Any] = {
        "kind": "dispute",
        "payment_id": payment.id,
        "dispute_reference": str(obj.get("id", ""))[:128],
        "outcome": outcome,
        "amount": amount,
        "currency": currency,
        "reason": obj.get("reason"),
    }
    return _store(session, "stripe", event_id, event_type, record, raw)
