"""WeChat Pay API v3 (微信支付) through `wechatpayv3`, in platform public-key mode.

* Desktop: Native pay, whose `code_url` is shown as a QR code. Mobile browsers: H5 pay (a redirect).
* Our payment id is the `out_trade_no`, our refund id the `out_refund_no`; amounts are in fen.
* Requests are signed and answers verified by the SDK (`build_authorization`, `_verify_signature`);
  notifications are verified over "{timestamp}\\n{nonce}\\n{body}\\n" with the platform public key that
  `Wechatpay-Serial` names, and their `resource` decrypted with AES-256-GCM and the APIv3 key — all by
  the SDK's `callback`. The SDK does not check the timestamp window; `verify_window` does (300 s).

The SDK speaks `requests`; `_Core` sends the very same signed bytes through httpx (tests fake the gateway
with respx) and never downloads platform certificates (public-key mode has none).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from sqlalchemy.orm import Session
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core
from wechatpayv3.type import RequestType
from wechatpayv3.utils import build_authorization

from roamcard.config import Settings, get_settings
from roamcard.kit.clock import BEIJING
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

log = structlog.get_logger("roamcard.payment.wechat_pay")

NOTIFICATION_WINDOW_SECONDS = 300
RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "SYSTEMERROR"})
TRADE_STATES = {
    "SUCCESS": RemoteStatus.SUCCEEDED,
    "REFUND": RemoteStatus.SUCCEEDED,  # paid, then (partly) refunded
    "NOTPAY": RemoteStatus.PENDING,
    "USERPAYING": RemoteStatus.PENDING,
    "CLOSED": RemoteStatus.FAILED,
    "REVOKED": RemoteStatus.FAILED,
    "PAYERROR": RemoteStatus.FAILED,
}
REFUND_STATES = {
    "SUCCESS": RefundOutcome.SUCCEEDED,
    "PROCESSING": RefundOutcome.PROCESSING,
    "CLOSED": RefundOutcome.FAILED,
    "ABNORMAL": RefundOutcome.FAILED,
}


class _Core(Core):
    """wechatpayv3's Core with httpx as its transport. Signing and verification stay the SDK's."""

    def __init__(self, *, gateway_url: str, http: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate_way = gateway_url.rstrip("/")
        self._http = http

    def _update_certificates(self) -> None:
        """Public-key mode: no platform certificates to download, ever. An unknown serial fails."""
        self._certificates.clear()

    def request(
        self,
        path: str,
        method: RequestType = RequestType.GET,
        data: Any = None,
        skip_verify: bool = False,
        sign_data: Any = None,
        files: Any = None,
        cipher_data: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        # The bytes signed are the bytes sent: json.dumps with its default separators, as `requests` sends.
        body = json.dumps(data) if data is not None and method is not RequestType.GET else ""
        signed = sign_data if sign_data is not None else body
        request_headers = {
            **(headers or {}),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "roamcard (wechatpayv3)",
            "Wechatpay-Serial": self._public_key_id,
            "Authorization": build_authorization(
                path, method.value, self._mchid, self._cert_serial_no, self._private_key, data=signed
            ),
        }
        try:
            response = self._http.request(
                method.value, self._gate_way + path, content=body.encode("utf-8"), headers=request_headers
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"wechat_pay: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise GatewayUnavailable(f"wechat_pay answered {response.status_code}")
        verified = skip_verify or self._verify_signature(response.headers, response.text)
        if 200 <= response.status_code < 300 and not verified:
            raise GatewayUnavailable("wechat_pay: the answer's signature does not verify")
        return response.status_code, response.text


def _error(code: int, text: str) -> Exception:
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {}
    detail = f"wechat_pay {code} {answer.get('code', '')} {answer.get('message', '')}".strip()[:200]
    if answer.get("code") in RETRYABLE_CODES or code == 429:
        return GatewayUnavailable(detail)
    return GatewayRejected(detail)


def _json(text: str) -> dict[str, Any]:
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise GatewayUnavailable("wechat_pay: unreadable answer") from exc
    if not isinstance(answer, dict):
        raise GatewayUnavailable("wechat_pay: unreadable answer")
    return answer


class WeChatPayProvider:
    name = "wechat_pay"
    method = "wechat_pay"
    remote = True
    currencies = frozenset({"CNY"})

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        apiv3_key: str,
        private_key: str,
        cert_serial_no: str,
        public_key: str,
        public_key_id: str,
        public_base_url: str,
        gateway_url: str = "https://api.mch.weixin.qq.com",
        timeout_seconds: float = 15.0,
    ) -> None:
        self.mchid = mchid
        self.appid = appid
        self.public_key_id = public_key_id
        self.public_base_url = public_base_url
        self.sdk = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=mchid,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=appid,
            apiv3_key=apiv3_key,
            notify_url=f"{public_base_url}/webhooks/wechat_pay",
            public_key=public_key,
            public_key_id=public_key_id,
        )
        # Swap the transport, keep the SDK's keys and helpers.
        self.sdk._core = _Core(
            gateway_url=gateway_url,
            http=httpx.Client(timeout=timeout_seconds),
            mchid=mchid,
            cert_serial_no=cert_serial_no,
            private_key=private_key,
            apiv3_key=apiv3_key,
            public_key=public_key,
            public_key_id=public_key_id,
        )

    # -- payments ---------------------------------------------------------------------------------
    def create_checkout(self, session: Session | None, payment: Payment) -> Checkout:
        description = (payment.description or f"Roamcard {payment.order_id}")[:127]
        extra: dict[str, Any] = {}
        if payment.expires_at is not None:
            extra["time_expire"] = payment.expires_at.astimezone(BEIJING).isoformat(timespec="seconds")
        amount = {"total": payment.amount, "currency": payment.currency}
        return_url = f"{self.public_base_url}/topups/{payment.order_id}"
        if payment.checkout_flow == CheckoutFlow.REDIRECT.value:
            code, text = self.sdk.pay(
                description=description,
                out_trade_no=payment.id,
                amount=amount,
                scene_info={
                    "payer_client_ip": payment.client_ip or "127.0.0.1",
                    "h5_info": {"type": "Wap"},
                },
                pay_type=WeChatPayType.H5,
                **extra,
            )
            if code != 200:
                raise _error(code, text)
            h5_url = str(_json(text)["h5_url"])
            return Checkout(
                checkout_url=f"{h5_url}&redirect_url={quote(return_url, safe='')}",
                provider_reference=payment.id,
            )
        code, text = self.sdk.pay(
            description=description,
            out_trade_no=payment.id,
            amount=amount,
            pay_type=WeChatPayType.NATIVE,
            **extra,
        )
        if code != 200:
            raise _error(code, text)
        return Checkout(
            checkout_url=f"{self.public_base_url}/pay/{payment.id}",
            provider_reference=payment.id,
            qr_code=str(_json(text)["code_url"]),
        )

    def query(self, session: Session | None, payment: Payment) -> RemotePayment:
        code, text = self.sdk.query(out_trade_no=payment.id)
        if code == 404:
            return RemotePayment(RemoteStatus.NOT_FOUND)
        if code != 200:
            raise _error(code, text)
        answer = _json(text)
        if answer.get("mchid") != self.mchid or answer.get("out_trade_no") != payment.id:
            raise GatewayUnavailable("wechat_pay: query answered for another merchant or trade")
        status = TRADE_STATES.get(str(answer.get("trade_state")), RemoteStatus.PENDING)
        if status is not RemoteStatus.SUCCEEDED:
            return RemotePayment(status)
        amount = answer.get("amount") or {}
        return RemotePayment(
            status,
            amount=int(amount["total"]),
            currency=str(amount.get("currency", "CNY")),
            transaction_id=answer.get("transaction_id"),
        )

    def close(self, session: Session | None, payment: Payment) -> None:
        code, text = self.sdk.close(out_trade_no=payment.id)
        if code in (200, 204):
            return
        error = _error(code, text)
        if isinstance(error, GatewayRejected) and " ORDERPAID " in f" {error} ":
            raise AlreadyPaid(str(error))
        if isinstance(error, GatewayRejected):  # closed already: nothing to do
            log.info("wechat_pay.close_nothing_to_do", payment_id=payment.id, detail=str(error))
            return
        raise error

    # -- refunds ----------------------------------------------------------------------------------
    def refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        code, text = self.sdk.refund(
            out_refund_no=request.refund_id,
            amount={"refund": request.amount, "total": request.payment_amount, "currency": request.currency},
            out_trade_no=request.payment_id,
            reason=request.reason[:80],
        )
        return self._refund_answer(code, text)

    def query_refund(self, session: Session | None, request: RefundRequest) -> RemoteRefund:
        code, text = self.sdk.query_refund(out_refund_no=request.refund_id)
        if code == 404:
            return RemoteRefund(RefundOutcome.FAILED, detail="wechat_pay has no such refund")
        return self._refund_answer(code, text)

    def _refund_answer(self, code: int, text: str) -> RemoteRefund:
        if code != 200:
            error = _error(code, text)
            if isinstance(error, GatewayRejected):
                return RemoteRefund(RefundOutcome.FAILED, detail=str(error))
            raise error
        answer = _json(text)
        outcome = REFUND_STATES.get(str(answer.get("status")), RefundOutcome.PROCESSING)
        return RemoteRefund(outcome, reference=answer.get("refund_id"), detail=answer.get("status"))

    # -- notifications ----------------------------------------------------------------------------
    def open_notification(
        self, headers: dict[str, str], body: str, now: float | None = None
    ) -> dict[str, Any]:
        """Verify and decrypt a notification; returns it with `resource` decrypted. Raises ValueError."""
        serial = headers.get("Wechatpay-Serial", "")
        if serial != self.public_key_id:
            raise ValueError(f"no platform key with serial {serial!r}")
        verify_window(headers.get("Wechatpay-Timestamp"), now)
        try:
            opened = self.sdk.callback(headers, body)
        except Exception as exc:  # the SDK raises bare Exceptions for unsupported algorithms
            raise ValueError(str(exc)) from exc
        if not opened or not isinstance(opened.get("resource"), dict):
            raise ValueError("signature does not verify, or the resource does not decrypt")
        return dict(opened)


def verify_window(timestamp: str | None, now: float | None = None) -> int:
    """Wechatpay-Timestamp within 300 s of now, either way (the SDK does not check it)."""
    try:
        signed_at = int(timestamp or "")
    except ValueError as exc:
        raise ValueError("malformed Wechatpay-Timestamp") from exc
    if abs((now if now is not None else time.time()) - signed_at) > NOTIFICATION_WINDOW_SECONDS:
        raise ValueError("Wechatpay-Timestamp outside the 300 s window")
    return signed_at


def from_settings(settings: Settings | None = None) -> WeChatPayProvider | None:
    settings = settings or get_settings()
    values = (
        settings.wechatpay_mchid,
        settings.wechatpay_appid,
        settings.wechatpay_apiv3_key,
        settings.wechatpay_private_key_file,
        settings.wechatpay_cert_serial_no,
        settings.wechatpay_public_key_file,
        settings.wechatpay_public_key_id,
    )
    if not all(values):
        return None
    assert settings.wechatpay_mchid
    assert settings.wechatpay_appid
    assert settings.wechatpay_apiv3_key
    assert settings.wechatpay_private_key_file
    assert settings.wechatpay_public_key_file
    assert settings.wechatpay_cert_serial_no
    assert settings.wechatpay_public_key_id
    return WeChatPayProvider(
        mchid=settings.wechatpay_mchid,
        appid=settings.wechatpay_appid,
        apiv3_key=settings.wechatpay_apiv3_key.get_secret_value(),
        private_key=settings.wechatpay_private_key_file.read_text(encoding="utf-8"),
        cert_serial_no=settings.wechatpay_cert_serial_no,
        public_key=settings.wechatpay_public_key_file.read_text(encoding="utf-8"),
        public_key_id=settings.wechatpay_public_key_id,
        public_base_url=settings.public_base_url,
        gateway_url=settings.wechatpay_gateway_url,
        timeout_seconds=settings.gateway_timeout_seconds,
    )
