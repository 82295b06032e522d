"""Alipay (支付宝 Open Platform, RSA2) through `python-alipay-sdk`.

* Desktop: `alipay.trade.precreate` gives a `qr_code` to show, and `alipay.trade.page.pay` a cashier page
  to redirect to. Mobile: `alipay.trade.wap.pay` (a signed URL, no call needed).
* Our payment id is the `out_trade_no`; our refund id the `out_request_no` (partial refunds).
* Notifications are verified with Alipay's public key over the sorted parameters without `sign` and
  `sign_type` (the SDK's `verify`), then checked against `app_id`, `seller_id` and `total_amount`.

The SDK speaks urllib; `_SdkClient` sends its signed requests through httpx instead (so tests fake the
gateway with respx) and stamps requests in Beijing time, as Alipay expects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import httpx
import structlog
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from sqlalchemy.orm import Session

from roamcard.config import Settings, get_settings
from roamcard.kit import clock
from roamcard.kit.clock import BEIJING
from roamcard.kit.money import Money
from roamcard.models import Payment
from roamcard.payment.providers.base import (
    AlreadyPaid,
    Checkout,
    CheckoutFlow,
    GatewayRejected,
    GatewayUnavailable,
    RefundOutcome,
    RefundRequest,
    RemotePayment,
    RemoteRefund,
    RemoteStatus,
)

log = structlog.get_logger("roamcard.payment.alipay")

SUCCESS = "10000"
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
# Answers that say "try again later", not "no".
RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error"})


def beijing_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def decimal_amount(amount: int, currency: str) -> str:
    return str(Money(amount, currency).as_decimal())


class _SdkClient(AliPay):
    """python-alipay-sdk with its transport replaced: same signing, same response verification."""

    def __init__(self, *, gateway_url: str, http: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway = gateway_url
        self._http = http

    def build_body(self, method: str, biz_content: Any = None, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = beijing_time(clock.now())
        return data

    def verified_sync_response(self, data: dict[str, Any], response_type: str) -> dict[str, Any]:
        body = self.sign_data(data)
        try:
            response = self._http.post(
                self._gateway,
                content=body.encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"alipay: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise GatewayUnavailable(f"alipay answered {response.status_code}")
        if response.status_code != 200:
            raise GatewayRejected(f"alipay answered {response.status_code}")
        try:
            result: dict[str, Any] = self._verify_and_return_sync_response(response.text, response_type)
        except AliPayValidationError as exc:
            raise GatewayUnavailable("alipay: the answer's signature does not verify") from exc
        except AliPayException as exc:  # an unsigned error answer (bad app id, bad signature of ours)
            raise GatewayRejected(f"alipay: {exc.message}"[:200]) from exc
        except (ValueError, KeyError, AttributeError) as exc:
            raise GatewayUnavailable("alipay: unreadable answer") from exc
        return result


def _raise_for(result: dict[str, Any]) -> None:
    if result.get("code") == SUCCESS:
        return
    detail = f"{result.get('code')} {result.get('sub_code', '')} {result.get('sub_msg', '')}".strip()
    if result.get("code") == "20000" or result.get("sub_code") in RETRYABLE_SUB_CODES:
        raise GatewayUnavailable(f"alipay: {detail}")
    raise GatewayRejected(f"alipay: {detail}"[:200])


class AlipayProvider:
    name = "alipay"
    method = "alipay"
    remote = True
    currencies = frozenset({"CNY"})

    def __init__(
        self,
        *,
        app_id: str,
        seller_id: str,
        app_private_key: str,
        alipay_public_key: str,
        gateway_url: str,
        public_base_url: str,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self.gateway_url = gateway_url
        self.public_base_url = public_base_url
        self.sdk = _SdkClient(
            appid=app_id,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
            gateway_url=gateway_url,
            http=httpx.Client(timeout=timeout_seconds),
        )

    @property
    def notify_url(self) -> str:
        return f"{self.public_base_url}/webhooks/alipay"

    def _return_url(self, payment: Payment) -> str:
        return f"{self.public_base_url}/topups/{payment.order_id}"

    # -- payments ---------------------------------------------------------------------------------
    def create_checkout(self, session: Session | None, payment: Payment) -> Checkout:
        subject = payment.description or f"Roamcard {payment.order_id}"
        total = decimal_amount(payment.amount, payment.currency)
        extra: dict[str, Any] = {}
        if payment.expires_at is not None:
            extra["time_expire"] = beijing_time(payment.expires_at)
        if payment.checkout_flow == CheckoutFlow.REDIRECT.value:
            signed = self.sdk.api_alipay_trade_wap_pay(
                subject,
                payment.id,
                total,
                return_url=self._return_url(payment),
                notify_url=self.notify_url,
                quit_url=self._return_url(payment),
                **extra,
            )
            return Checkout(checkout_url=f"{self.gateway_url}?{signed}", provider_reference=payment.id)
        result = self.sdk.api_alipay_trade_precreate(
            subject, payment.id, total, notify_url=self.notify_url, **extra
        )
        _raise_for(result)
        if result.get("out_trade_no") != payment.id or not result.get("qr_code"):
            raise GatewayUnavailable("alipay: precreate answered for another trade")
        page = self.sdk.api_alipay_trade_page_pay(
            subject,
            payment.id,
            total,
            return_url=self._return_url(payment),
            notify_url=self.notify_url,
            **extra,
        )
        return Checkout(
            checkout_url=f"{self.gateway_url}?{page}",
            provider_reference=payment.id,
            qr_code=str(result["qr_code"]),
        )

    def query(self, session: Session | None, payment: Payment) -> RemotePayment:
        result = self.sdk.api_alipay_trade_query(out_trade_no=payment.id)
        if result.get("code") != SUCCESS and result.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return RemotePayment(RemoteStatus.NOT_FOUND)
        _raise_for(result)
        status = result.get("trade_status")
        if status in PAID_STATUSES:
            return RemotePayment(
                RemoteStatus.SUCCEEDED,
                amount=Money.from_decimal_string(str(result["total_amount"]), payment.currency).amount,
                currency=payment.currency,
                transaction_id=result.get("trade_no"),
            )
        if status == "TRADE_CLOSED":
            return RemotePayment(RemoteStatus.FAILED)
        return RemotePayment(RemoteStatus.PENDING)

    def close(self, session: Session | None, payment: Payment) -> None:
        result = self.sdk.api_alipay_trade_close(out_trade_no=payment.id)
        if result.get("code") != SUCCESS and result.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            log.info("alipay.close_nothing_to_do", payment_id=payment.id, sub_code=result.get("sub_code"))
            return  # never scanned: nothing to close
        if result.get("code") != SUCCESS and result.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            raise AlreadyPaid("alipay: ACQ.TRADE_STATUS_ERROR")  # paid (or finished) meanwhile
        _raise_for(result)

    # -- refunds ----------------------------------------------------------------------------------
    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        try:
            result = self.sdk.api_alipay_trade_refund(
                decimal_amount(request.amount, request.currency),
                out_trade_no=request.payment_id,
                out_request_no=request.refund_id,
                refund_reason=request.reason[:256],
            )
            _raise_for(result)
        except GatewayRejected as exc:
            return RemoteRefund(RefundOutcome.FAILED, detail=str(exc))
        # Success answers the same for a repeat (fund_change = N): the refund is done either way.
        return RemoteRefund(
            RefundOutcome.SUCCEEDED, reference=f"{result.get('trade_no')}:{request.refund_id}"
        )

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        result = self.sdk.api_alipay_trade_fastpay_refund_query(
            request.refund_id, out_trade_no=request.payment_id
        )
        _raise_for(result)
        if result.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS" and result.get("refund_amount"):
            return RemoteRefund(
                RefundOutcome.SUCCEEDED, reference=f"{result.get('trade_no')}:{request.refund_id}"
            )
        return RemoteRefund(RefundOutcome.FAILED, detail="alipay has no such refund")

    # -- notifications ----------------------------------------------------------------------------
    def verify_notification(self, params: dict[str, str]) -> bool:
        """RSA2 with Alipay's public key over the sorted parameters without `sign` and `sign_type`."""
        data = dict(params)
        signature = data.pop("sign", None)
        if not signature or data.get("sign_type") != "RSA2":
            return False
        try:
            return bool(self.sdk.verify(data, signature))
        except (ValueError, TypeError, AliPayException):
            return False


def encode_params(params: dict[str, str]) -> str:
    """Form-encode like Alipay does (tests use it to post notifications)."""
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params.items())


def from_settings(settings: Settings | None = None) -> AlipayProvider | None:
    settings = settings or get_settings()
    required = (
        settings.alipay_app_id,
        settings.alipay_seller_id,
        settings.alipay_private_key_file,
        settings.alipay_public_key_file,
    )
    if not all(required):
        return None
    assert settings.alipay_private_key_file is not None
    assert settings.alipay_public_key_file is not None
    assert settings.alipay_app_id is not None
    assert settings.alipay_seller_id is not None
    return AlipayProvider(
        app_id=settings.alipay_app_id,
        seller_id=settings.alipay_seller_id,
        app_private_key=settings.alipay_private_key_file.read_text(encoding="utf-8"),
        alipay_public_key=settings.alipay_public_key_file.read_text(encoding="utf-8"),
        gateway_url=settings.alipay_gateway_url,
        public_base_url=settings.public_base_url,
        timeout_seconds=settings.gateway_timeout_seconds,
    )
