"""Card payments through Stripe Checkout: Stripe hosts the card form, so no card number ever touches
Roamcard. The card holder's method is `card`; the provider (and ledger clearing account) is `stripe`.

* One Checkout Session per payment, created with the idempotency key `roamcard-checkout-<payment id>`:
  a create that timed out is settled by sending the very same request again (Stripe answers with the
  session it made, or makes it now), so the sweeper never guesses.
* Refunds use `roamcard-refund-<refund id>` as their idempotency key.
* Webhooks are verified by the SDK (`WebhookSignature.verify_header`) on the raw body.
* The client retries network errors itself (`max_network_retries`) and talks through `stripe.HTTPXClient`,
  so tests fake Stripe with respx.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import stripe as stripe_sdk
import structlog
from sqlalchemy.orm import Session

from roamcard.config import Settings, get_settings
from roamcard.kit import clock
from roamcard.kit.clock import as_utc
from roamcard.models import Payment
from roamcard.payment.providers.base import (
    AlreadyPaid,
    Checkout,
    GatewayRejected,
    GatewayUnavailable,
    RefundOutcome,
    RefundRequest,
    RemotePayment,
    RemoteRefund,
    RemoteStatus,
)

log = structlog.get_logger("roamcard.payment.stripe")

# Stripe wants a Checkout Session to live at least 30 minutes from its creation. We ask for two hours from
# when the create is first sent, so the very same request can still be re-sent after a timeout; our own
# expiry closes the session at the end of our payment window anyway.
MIN_SESSION_SECONDS = 2 * 3600
PAID = frozenset({"paid", "no_payment_required"})
REFUND_STATES = {
    "succeeded": RefundOutcome.SUCCEEDED,
    "pending": RefundOutcome.PROCESSING,
    "requires_action": RefundOutcome.PROCESSING,
    "failed": RefundOutcome.FAILED,
    "canceled": RefundOutcome.FAILED,
}


def _translate(exc: stripe_sdk.StripeError) -> Exception:
    detail = f"stripe: {type(exc).__name__}: {exc.user_message or exc}"[:200]
    if isinstance(exc, stripe_sdk.APIConnectionError | stripe_sdk.APIError | stripe_sdk.RateLimitError):
        return GatewayUnavailable(detail)
    if exc.http_status is not None and exc.http_status >= 500:
        return GatewayUnavailable(detail)
    return GatewayRejected(detail)


class StripeProvider:
    name = "stripe"
    method = "card"
    remote = True
    currencies = frozenset({"USD", "CNY"})

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        public_base_url: str,
        max_network_retries: int = 2,
        timeout_seconds: float = 15.0,
        http_client: Any = None,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.livemode = secret_key.startswith(("sk_live_", "rk_live_"))
        self.public_base_url = public_base_url
        self.client = stripe_sdk.StripeClient(
            secret_key,
            max_network_retries=max_network_retries,
            http_client=http_client
            or stripe_sdk.HTTPXClient(timeout=timeout_seconds, allow_sync_methods=True),
        )

    # -- payments ---------------------------------------------------------------------------------
    def _session_params(self, payment: Payment) -> dict[str, Any]:
        """Deterministic from the payment row, so a retry is the same request (idempotency key). The
        session's end counts from when the create was first sent (`checkout_sent_at`), not from the
        order's creation: a session opened late must still ask Stripe for its 30-minute minimum."""
        sent = as_utc(payment.checkout_sent_at) if payment.checkout_sent_at else clock.now()
        expires = max(
            as_utc(payment.expires_at) if payment.expires_at else sent,
            sent + timedelta(seconds=MIN_SESSION_SECONDS),
        )
        metadata = {"payment_id": payment.id, "order_id": payment.order_id}
        return_url = f"{self.public_base_url}/topups/{payment.order_id}"
        return {
            "mode": "payment",
            "payment_method_types": ["card"],
            "client_reference_id": payment.id,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": payment.currency.lower(),
                        "unit_amount": payment.amount,
                        "product_data": {"name": payment.description or f"Roamcard {payment.order_id}"},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": f"Roamcard {payment.id}"},
            "success_url": return_url,
            "cancel_url": return_url,
            "expires_at": int(expires.timestamp()),
        }

    def _open_session(self, payment: Payment) -> Any:
        try:
            return self.client.v1.checkout.sessions.create(
                self._session_params(payment),  # type: ignore[arg-type]
                {"idempotency_key": f"roamcard-checkout-{payment.id}"},
            )
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc

    def create_checkout(self, session: Session | None, payment: Payment) -> Checkout:
        checkout = self._open_session(payment)
        return Checkout(checkout_url=str(checkout.url), provider_reference=str(checkout.id))

    def query(self, session: Session | None, payment: Payment) -> RemotePayment:
        checkout: Any
        try:
            if payment.provider_reference:
                checkout = self.client.v1.checkout.sessions.retrieve(payment.provider_reference)
            else:  # the create timed out: the same request again tells us what Stripe made...
                try:
                    made = self._open_session(payment)
                except GatewayRejected as exc:
                    if _refused_param(exc) == "expires_at":
                        # Only a request Stripe never processed is validated again: nothing was made.
                        return RemotePayment(RemoteStatus.NOT_FOUND)
                    raise
                # ...as it was then (Stripe replays the first answer): ask for the session as it is now.
                checkout = self.client.v1.checkout.sessions.retrieve(str(made.id))
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        checkout = _plain(checkout)
        if checkout.get("client_reference_id") != payment.id:
            raise GatewayUnavailable("stripe: the session belongs to another payment")
        if checkout.get("status") == "complete" and checkout.get("payment_status") in PAID:
            return RemotePayment(
                RemoteStatus.SUCCEEDED,
                amount=int(checkout.get("amount_total") or 0),
                currency=str(checkout.get("currency", "")).upper(),
                transaction_id=_id_of(checkout.get("payment_intent")),
            )
        if checkout.get("status") == "expired":
            return RemotePayment(RemoteStatus.FAILED)
        opened = Checkout(checkout_url=str(checkout.get("url")), provider_reference=str(checkout["id"]))
        return RemotePayment(RemoteStatus.PENDING, checkout=opened if checkout.get("url") else None)

    def close(self, session: Session | None, payment: Payment) -> None:
        if not payment.provider_reference:
            return  # never opened as far as the payer could see
        try:
            self.client.v1.checkout.sessions.expire(payment.provider_reference)
        except stripe_sdk.StripeError as exc:
            error = _translate(exc)
            if isinstance(error, GatewayRejected):  # not open any more: complete (paid) or expired
                raise AlreadyPaid(str(error)) from exc
            raise error from exc

    # -- refunds ----------------------------------------------------------------------------------
    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        try:
            payment_intent = request.transaction_id or self._payment_intent_of(request)
            refund = self.client.v1.refunds.create(
                {
                    "payment_intent": payment_intent,
                    "amount": request.amount,
                    "reason": "requested_by_customer",
                    "metadata": {"refund_id": request.refund_id, "payment_id": request.payment_id},
                },
                {"idempotency_key": f"roamcard-refund-{request.refund_id}"},
            )
        except stripe_sdk.StripeError as exc:
            error = _translate(exc)
            if isinstance(error, GatewayRejected):
                return RemoteRefund(RefundOutcome.FAILED, detail=str(error))
            raise error from exc
        return self._refund_answer(refund)

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        """By Stripe's refund id once we know it; before that (the create's answer was lost), our refund
        among the payment's refunds, by the refund_id its metadata carries."""
        try:
            if request.reference:
                refund = self.client.v1.refunds.retrieve(request.reference)
            else:
                payment_intent = request.transaction_id or self._payment_intent_of(request)
                listed = _plain(self.client.v1.refunds.list({"payment_intent": payment_intent, "limit": 100}))
                ours = [
                    r
                    for r in listed.get("data", [])
                    if (r.get("metadata") or {}).get("refund_id") == request.refund_id
                ]
                if not ours:
                    return RemoteRefund(RefundOutcome.FAILED, detail="stripe has no such refund")
                refund = ours[0]
        except stripe_sdk.StripeError as exc:
            raise _translate(exc) from exc
        return self._refund_answer(refund)

    def _payment_intent_of(self, request: RefundRequest) -> str:
        if not request.provider_reference:
            raise GatewayRejected("stripe: the payment has no checkout session")
        checkout = _plain(self.client.v1.checkout.sessions.retrieve(request.provider_reference))
        payment_intent = _id_of(checkout.get("payment_intent"))
        if not payment_intent:
            raise GatewayRejected("stripe: the session has no payment")
        return payment_intent

    @staticmethod
    def _refund_answer(refund: Any) -> RemoteRefund:
        refund = _plain(refund)
        outcome = REFUND_STATES.get(str(refund.get("status")), RefundOutcome.PROCESSING)
        return RemoteRefund(outcome, reference=str(refund["id"]), detail=refund.get("failure_reason"))

    # -- notifications ----------------------------------------------------------------------------
    def verify_notification(self, raw_body: bytes, signature_header: str | None, tolerance: int) -> None:
        """Raises stripe.SignatureVerificationError. The SDK only refuses old timestamps; a signature
        from the future is refused here too."""
        stripe_sdk.WebhookSignature.verify_header(raw_body, signature_header, self.webhook_secret, tolerance)
        signed_at = next(
            int(part[2:]) for part in (signature_header or "").split(",") if part.strip().startswith("t=")
        )
        if signed_at > time.time() + tolerance:
            raise stripe_sdk.SignatureVerificationError(
                "Timestamp in the future", signature_header, raw_body.decode("utf-8", "replace")
            )


def _refused_param(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "param", None) if isinstance(cause, stripe_sdk.InvalidRequestError) else None


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as a plain dict (StripeObject refuses dict methods such as .get)."""
    if isinstance(obj, dict) and not hasattr(obj, "to_dict"):
        return obj
    plain: dict[str, Any] = obj.to_dict()
    return plain


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value.get("id")) if value.get("id") else None


def from_settings(settings: Settings | None = None) -> StripeProvider | None:
    settings = settings or get_settings()
    if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
        return None
    return StripeProvider(
        secret_key=settings.stripe_secret_key.get_secret_value(),
        webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
        public_base_url=settings.public_base_url,
        max_network_retries=settings.stripe_max_network_retries,
        timeout_seconds=settings.gateway_timeout_seconds,
    )
