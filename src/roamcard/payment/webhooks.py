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
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import NotFound
from roamcard.kit.money import Money
from roamcard.models import Payment, Refund
from roamcard.payment.providers import get_provider
from roamcard.payment.providers.alipay import AlipayProvider
from roamcard.payment.providers.stripe import StripeProvider
from roamcard.payment.providers.wechat_pay import WeChatPayProvider
from roamcard.payment.service import (
    WebhookMismatch,
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
    try:
        paid = Money.from_decimal_string(params.get("total_amount", ""), payment.currency)
    except (ArithmeticError, ValueError) as exc:
        raise _reject("alipay", "malformed total_amount", WebhookMismatch(), payment_id=payment.id) from exc
    if paid.amount != payment.amount:
        raise _reject("alipay", "amount mismatch", WebhookMismatch(), payment_id=payment.id)
    status = params.get("trade_status", "")
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
            raise _reject("wechat_pay", "refund amount mismatch", WebhookMismatch(), refund_id=refund.id)
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
    if (amount.get("total"), amount.get("currency", "CNY")) != (payment.amount, payment.currency):
        raise _reject("wechat_pay", "amount mismatch", WebhookMismatch(), payment_id=payment.id)
    state = str(resource.get("trade_state", ""))
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
            raise _reject("stripe", "refund amount mismatch", WebhookMismatch(), refund_id=refund.id)
        status = str(obj.get("status", ""))
        outcome = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(status, "ignored")
        record: dict[str, Any] = {
            "kind": "refund",
            "refund_id": refund.id,
            "outcome": outcome,
            "reference": obj.get("id"),
        }
        return _store(session, "stripe", event_id, event_type, record, raw)
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
        raise _reject("stripe", "amount mismatch", WebhookMismatch(), payment_id=payment.id)
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
