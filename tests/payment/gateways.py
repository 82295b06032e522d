"""Fake gateways for offline, protocol-faithful tests.

Each fake makes its own keys, checks the signature on every request Roamcard sends it (as the real
gateway would refuse an unsigned one), answers signed the way the gateway signs, and signs its
notifications the way the gateway does — with the SDKs' own helpers where they have them. Mounted on
respx, so the providers' real HTTP code runs; nothing leaves the machine.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import respx
import stripe
from alipay import AliPay
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.utils import load_private_key, load_public_key, rsa_sign

from roamcard.kit import clock
from roamcard.models import Payment
from roamcard.payment import providers
from roamcard.payment.providers.alipay import AlipayProvider
from roamcard.payment.providers.stripe import StripeProvider
from roamcard.payment.providers.wechat_pay import WeChatPayProvider

BASE = "http://testserver"
_serial = itertools.count(1)


def rsa_pair() -> tuple[str, str]:
    """(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM), made fresh for each test."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class Timeout(Exception):
    pass


# -- Alipay ---------------------------------------------------------------------------------------
@dataclass
class FakeAlipay:
    """Alipay's open gateway: RSA2 both ways, JSON answers signed over the raw response object."""

    url: str = "https://openapi.alipay.test/gateway.do"
    app_id: str = "2021004100000001"
    seller_id: str = "2088102100000001"
    trades: dict[str, dict[str, str]] = field(default_factory=dict)
    refunds: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False  # time out every call

    def __post_init__(self) -> None:
        self.app_private, self.app_public = rsa_pair()
        self.alipay_private, self.alipay_public = rsa_pair()
        # Alipay's side of the SDK: signs with Alipay's private key, verifies with the app's public key.
        self.gateway = AliPay(
            appid=self.app_id,
            app_private_key_string=self.alipay_private,
            alipay_public_key_string=self.app_public,
        )

    def provider(self) -> AlipayProvider:
        return AlipayProvider(
            app_id=self.app_id,
            seller_id=self.seller_id,
            app_private_key=self.app_private,
            alipay_public_key=self.alipay_public,
            gateway_url=self.url,
            public_base_url=BASE,
        )

    def mount(self, router: respx.MockRouter) -> None:
        router.post(self.url).mock(side_effect=self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ReadTimeout("gateway too slow", request=request)
        params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        signature = params.pop("sign")
        unsigned = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        assert self.gateway._verify(unsigned, signature), "Alipay refuses a request it cannot verify"
        assert params["app_id"] == self.app_id
        assert params["sign_type"] == "RSA2"
        method, biz = params["method"], json.loads(params["biz_content"])
        self.calls.append(method)
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if method == "alipay.trade.precreate":
            self.trades[biz["out_trade_no"]] = {
                "status": "WAIT_BUYER_PAY",
                "total_amount": biz["total_amount"],
            }
            answer = {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"]}
            answer["qr_code"] = f"https://qr.alipay.com/bax0{next(_serial)}"
        elif method in ("alipay.trade.query", "alipay.trade.close") and trade is None:
            answer = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        elif method == "alipay.trade.query":
            assert trade is not None
            answer = {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": biz["out_trade_no"],
                "trade_no": trade.get("trade_no", ""),
                "trade_status": trade["status"],
                "total_amount": trade["total_amount"],
            }
        elif method == "alipay.trade.close" and trade is not None and trade["status"] != "WAIT_BUYER_PAY":
            # Alipay closes only an unpaid trade; a paid (or closed) one answers a business error.
            answer = {
                "code": "40004",
                "msg": "Business Failed",
                "sub_code": "ACQ.TRADE_STATUS_ERROR",
                "sub_msg": "交易状态不合法",
            }
        elif method == "alipay.trade.close":
            assert trade is not None
            trade["status"] = "TRADE_CLOSED"
            answer = {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"]}
        elif method == "alipay.trade.refund":
            self.refunds[biz["out_request_no"]] = biz["refund_amount"]
            answer = {
                "code": "10000",
                "msg": "Success",
                "fund_change": "Y",
                "refund_fee": biz["refund_amount"],
            }
            answer["trade_no"] = (trade or {}).get("trade_no", "")
        else:
            raise AssertionError(f"unexpected {method}")
        return self.signed_answer(method, answer)

    def signed_answer(self, method: str, answer: dict[str, Any]) -> httpx.Response:
        inner = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        response_type = method.replace(".", "_") + "_response"
        text = f'{{"{response_type}":{inner},"sign":"{self.gateway._sign(inner)}"}}'
        return httpx.Response(200, content=text.encode(), headers={"Content-Type": "text/html;charset=utf-8"})

    def pay(self, payment_id: str) -> str:
        """The payer scans and pays."""
        trade = self.trades.setdefault(payment_id, {"total_amount": "0"})
        trade.update(status="TRADE_SUCCESS", trade_no=f"2026112522001{next(_serial):08d}")
        return trade["trade_no"]

    def notification(
        self,
        payment: Payment,
        *,
        trade_status: str = "TRADE_SUCCESS",
        total_amount: str | None = None,
        app_id: str | None = None,
        seller_id: str | None = None,
        out_trade_no: str | None = None,
        notify_id: str | None = None,
        signer: AliPay | None = None,
    ) -> bytes:
        """The asynchronous notification, signed RSA2 over the sorted parameters without sign and
        sign_type, with Alipay's private key (the SDK's own signer)."""
        params = {
            "notify_time": "2026-11-25 12:00:00",
            "notify_type": "trade_status_sync",
            "notify_id": notify_id or f"ac05099524730693a8b330c5ecf72da{next(_serial)}",
            "app_id": app_id or self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": self.trades.get(payment.id, {}).get("trade_no") or "2026112522001000000001",
            "out_trade_no": out_trade_no or payment.id,
            "trade_status": trade_status,
            "total_amount": total_amount or f"{payment.amount // 100}.{payment.amount % 100:02d}",
            "receipt_amount": f"{payment.amount // 100}.{payment.amount % 100:02d}",
            "seller_id": seller_id or self.seller_id,
            "buyer_id": "2088102122524333",
            "subject": "远游卡充值",
            "gmt_payment": "2026-11-25 11:59:58",
        }
        unsigned = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["sign"] = (signer or self.gateway)._sign(unsigned)
        params["sign_type"] = "RSA2"
        return urlencode(params).encode()

    def stranger(self) -> AliPay:
        """A signer with some other key."""
        other_private, _ = rsa_pair()
        return AliPay(
            appid=self.app_id, app_private_key_string=other_private, alipay_public_key_string=self.app_public
        )


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


# -- WeChat Pay -----------------------------------------------------------------------------------
@dataclass
class FakeWeChatPay:
    """WeChat Pay API v3: checks our Authorization signature, answers signed with the platform key."""

    url: str = "https://api.mch.weixin.test"
    mchid: str = "1900000109"
    appid: str = "wxd678efh567hg6787"
    cert_serial_no: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    public_key_id: str = "PUB_KEY_ID_0119000001092025112500000001"
    trades: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False
    refund_status: str = "PROCESSING"

    def __post_init__(self) -> None:
        self.apiv3_key = secrets.token_hex(16)  # 32 characters
        self.merchant_private, self.merchant_public = rsa_pair()
        self.platform_private, self.platform_public = rsa_pair()

    def provider(self) -> WeChatPayProvider:
        return WeChatPayProvider(
            mchid=self.mchid,
            appid=self.appid,
            apiv3_key=self.apiv3_key,
            private_key=self.merchant_private,
            cert_serial_no=self.cert_serial_no,
            public_key=self.platform_public,
            public_key_id=self.public_key_id,
            public_base_url=BASE,
            gateway_url=self.url,
        )

    def mount(self, router: respx.MockRouter) -> None:
        router.route(host=urlsplit(self.url).hostname).mock(side_effect=self.handle)

    def _check_authorization(self, request: httpx.Request) -> None:
        scheme, _, rest = request.headers["Authorization"].partition(" ")
        assert scheme == "WECHATPAY2-SHA256-RSA2048"
        fields = dict(part.split("=", 1) for part in rest.split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        assert fields["mchid"] == self.mchid
        assert fields["serial_no"] == self.cert_serial_no
        path = request.url.raw_path.decode()
        stamp, nonce = fields["timestamp"], fields["nonce_str"]
        message = f"{request.method}\n{path}\n{stamp}\n{nonce}\n{request.content.decode()}\n"
        key = load_public_key(self.merchant_public)
        key.verify(
            base64.b64decode(fields["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        assert request.headers["Wechatpay-Serial"] == self.public_key_id

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectTimeout("no route", request=request)
        self._check_authorization(request)
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        self.calls.append(f"{request.method} {path}")
        if path in ("/v3/pay/transactions/native", "/v3/pay/transactions/h5"):
            assert body["mchid"] == self.mchid
            assert body["appid"] == self.appid
            self.trades[body["out_trade_no"]] = {"trade_state": "NOTPAY", "amount": body["amount"]}
            if path.endswith("native"):
                return self.signed(200, {"code_url": f"weixin://wxpay/bizpayurl?pr=Ab{next(_serial)}"})
            assert body["scene_info"]["h5_info"]["type"] == "Wap"
            return self.signed(
                200, {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}
            )
        if path.startswith("/v3/pay/transactions/out-trade-no/") and path.endswith("/close"):
            out_trade_no = path.split("/")[-2]
            if self.trades.get(out_trade_no, {}).get("trade_state") == "SUCCESS":
                return self.signed(400, {"code": "ORDERPAID", "message": "订单已支付"})
            self.trades.setdefault(out_trade_no, {})["trade_state"] = "CLOSED"
            return self.signed(204, None)
        if path.startswith("/v3/pay/transactions/out-trade-no/"):
            out_trade_no = path.rsplit("/", 1)[1]
            trade = self.trades.get(out_trade_no)
            if trade is None:
                return self.signed(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            return self.signed(
                200,
                {
                    "appid": self.appid,
                    "mchid": self.mchid,
                    "out_trade_no": out_trade_no,
                    "transaction_id": trade.get("transaction_id", ""),
                    "trade_state": trade["trade_state"],
                    "amount": {**trade["amount"], "payer_total": trade["amount"]["total"]},
                },
            )
        if path == "/v3/refund/domestic/refunds":
            refund = {
                "refund_id": f"50000000382019052709732{next(_serial):06d}",
                "out_refund_no": body["out_refund_no"],
                "out_trade_no": body.get("out_trade_no"),
                "status": self.refund_status,
                "amount": {**body["amount"], "payer_refund": body["amount"]["refund"]},
            }
            self.refunds.setdefault(body["out_refund_no"], refund)
            return self.signed(200, self.refunds[body["out_refund_no"]])
        if path.startswith("/v3/refund/domestic/refunds/"):
            refund = self.refunds[path.rsplit("/", 1)[1]]
            return self.signed(200, refund)
        raise AssertionError(f"unexpected {request.method} {path}")

    def signed(self, status: int, answer: dict[str, Any] | None) -> httpx.Response:
        body = json.dumps(answer, ensure_ascii=False) if answer is not None else ""
        return httpx.Response(status, content=body.encode(), headers=self.signature_headers(body))

    def signature_headers(
        self, body: str, *, timestamp: int | None = None, serial: str | None = None, key: str | None = None
    ) -> dict[str, str]:
        stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
        private = load_private_key(key or self.platform_private)
        return {
            "Content-Type": "application/json",
            "Wechatpay-Serial": serial or self.public_key_id,
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": rsa_sign(private, f"{stamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def pay(self, payment_id: str) -> str:
        trade = self.trades[payment_id]
        trade.update(trade_state="SUCCESS", transaction_id=f"42000000012026112500{next(_serial):08d}")
        return str(trade["transaction_id"])

    def transaction(self, payment: Payment, **changes: Any) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": payment.id,
            "transaction_id": self.trades.get(payment.id, {}).get("transaction_id")
            or "4200000001202611250000000001",
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": "2026-11-25T12:00:00+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {
                "total": payment.amount,
                "payer_total": payment.amount,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        resource.update(changes)
        return resource

    def notification(
        self,
        resource: dict[str, Any],
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        event_id: str | None = None,
        apiv3_key: str | None = None,
        associated_data: str = "transaction",
    ) -> bytes:
        """The notification body: `resource` encrypted with AEAD_AES_256_GCM under the APIv3 key."""
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay sends
        plaintext = json.dumps(resource, ensure_ascii=False).encode()
        cipher = AESGCM((apiv3_key or self.apiv3_key).encode()).encrypt(
            nonce.encode(), plaintext, associated_data.encode()
        )
        body = {
            "id": event_id or f"EV-2026112512000{next(_serial):06d}",
            "create_time": "2026-11-25T12:00:01+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction" if event_type.startswith("TRANSACTION") else "refund",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(cipher).decode(),
                "associated_data": associated_data,
                "nonce": nonce,
            },
        }
        return json.dumps(body, ensure_ascii=False).encode()


# -- Stripe ---------------------------------------------------------------------------------------
@dataclass
class FakeStripe:
    """Stripe's API (form-encoded requests, idempotency keys replayed) and its signed webhooks."""

    secret_key: str = "sk_test_roamcard_0000000000000000"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False
    refund_status: str = "succeeded"
    lose_answers: bool = False  # do the work, then time out before answering (the answer is lost)
    refuse_refunds: str | None = None  # answer refund creates with this error code (e.g. charge_disputed)
    pay_on_expire: bool = False  # the payer completes the session just before our expire call lands

    def __post_init__(self) -> None:
        self.webhook_secret = "whsec_" + secrets.token_hex(16)

    def forget_idempotency_keys(self) -> None:
        """Stripe prunes idempotency keys once they are 24 hours old: a retry after that is a new request."""
        self.replays.clear()

    def provider(self) -> StripeProvider:
        return StripeProvider(
            secret_key=self.secret_key,
            webhook_secret=self.webhook_secret,
            public_base_url=BASE,
            max_network_retries=0,
        )

    def mount(self, router: respx.MockRouter) -> None:
        router.route(host="api.stripe.com").mock(side_effect=self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ReadTimeout("stripe too slow", request=request)
        assert request.headers["Authorization"] == f"Bearer {self.secret_key}"
        path, form = request.url.path, dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.calls.append(f"{request.method} {path}")
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key in self.replays:
            return httpx.Response(200, json=self.replays[key])
        if request.method == "GET":
            form = dict(request.url.params)
        answer = self._answer(request.method, path, form)
        if isinstance(answer, httpx.Response):
            return answer
        if request.method == "POST" and key:
            self.replays[key] = answer
        if self.lose_answers:
            raise httpx.ReadTimeout("stripe answered too late", request=request)
        return httpx.Response(200, json=answer)

    def _answer(self, method: str, path: str, form: dict[str, str]) -> dict[str, Any] | httpx.Response:
        if method == "POST" and path == "/v1/checkout/sessions":
            # Stripe refuses a session that would live less than 30 minutes or more than 24 hours.
            now = clock.now().timestamp()
            if not now + 30 * 60 <= int(form["expires_at"]) <= now + 24 * 3600:
                return httpx.Response(
                    400,
                    json={
                        "error": {
                            "type": "invalid_request_error",
                            "param": "expires_at",
                            "message": "The `expires_at` timestamp must be between 30 minutes and 24 hours "
                            "from Checkout Session creation.",
                        }
                    },
                )
            session_id = f"cs_test_{secrets.token_hex(8)}"
            self.sessions[session_id] = {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "client_reference_id": form["client_reference_id"],
                "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
                "currency": form["line_items[0][price_data][currency]"],
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
                "metadata": {
                    "payment_id": form["metadata[payment_id]"],
                    "order_id": form["metadata[order_id]"],
                },
                "expires_at": int(form["expires_at"]),
            }
            return dict(self.sessions[session_id])
        if path.startswith("/v1/checkout/sessions/"):
            parts = path.split("/")
            found = self.sessions.get(parts[4])
            if found is None:
                return httpx.Response(
                    404, json={"error": {"type": "invalid_request_error", "code": "resource_missing"}}
                )
            if method == "POST" and parts[-1] == "expire":
                if self.pay_on_expire and found["status"] == "open":
                    self.pay(found["client_reference_id"])
                if found["status"] != "open":
                    return httpx.Response(
                        400, json={"error": {"type": "invalid_request_error", "message": "not open"}}
                    )
                found["status"] = "expired"
            return dict(found)
        if method == "POST" and path == "/v1/refunds":
            refused = self._refuse_refund(form)
            if refused is not None:
                return refused
            refund_id = f"re_{secrets.token_hex(8)}"
            self.refunds[refund_id] = {
                "id": refund_id,
                "object": "refund",
                "amount": int(form["amount"]),
                "currency": next(
                    s["currency"]
                    for s in self.sessions.values()
                    if s["payment_intent"] == form["payment_intent"]
                ),
                "payment_intent": form["payment_intent"],
                "status": self.refund_status,
                "metadata": {
                    "refund_id": form["metadata[refund_id]"],
                    "payment_id": form["metadata[payment_id]"],
                },
            }
            return dict(self.refunds[refund_id])
        if method == "GET" and path.startswith("/v1/refunds/"):
            return dict(self.refunds[path.rsplit("/", 1)[1]])
        if method == "GET" and path == "/v1/refunds":
            data = [
                dict(r) for r in self.refunds.values() if r["payment_intent"] == form.get("payment_intent")
            ]
            return {"object": "list", "data": data[::-1], "has_more": False, "url": "/v1/refunds"}
        raise AssertionError(f"unexpected {method} {path}")

    def _refuse_refund(self, form: dict[str, str]) -> httpx.Response | None:
        """Stripe's 400s for a refund it will not make: a dispute, or nothing left on the charge."""
        code = self.refuse_refunds
        if code is None:
            paid = next(
                s["amount_total"]
                for s in self.sessions.values()
                if s["payment_intent"] == form["payment_intent"]
            )
            refunded = sum(
                r["amount"]
                for r in self.refunds.values()
                if r["payment_intent"] == form["payment_intent"] and r["status"] not in ("failed", "canceled")
            )
            if refunded + int(form["amount"]) <= paid:
                return None
            code = "charge_already_refunded"
        error = {"type": "invalid_request_error", "code": code, "message": f"Refund refused: {code}."}
        return httpx.Response(400, json={"error": error})

    def session_of(self, payment_id: str) -> dict[str, Any]:
        return next(s for s in self.sessions.values() if s["client_reference_id"] == payment_id)

    def pay(self, payment_id: str) -> dict[str, Any]:
        found = self.session_of(payment_id)
        found.update(status="complete", payment_status="paid", payment_intent=f"pi_{secrets.token_hex(8)}")
        return dict(found)

    def dispute(
        self, payment_intent: str, *, amount: int, currency: str = "usd", status: str = "needs_response"
    ) -> dict[str, Any]:
        """A Dispute object as Stripe sends it in `charge.dispute.*` events."""
        found = getattr(self, "_disputes", {})
        self._disputes = found
        dispute = found.setdefault(
            payment_intent,
            {
                "id": f"dp_{secrets.token_hex(8)}",
                "object": "dispute",
                "amount": amount,
                "currency": currency,
                "charge": f"ch_{secrets.token_hex(8)}",
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "created": int(time.time()),
            },
        )
        dispute["status"] = status
        return dict(dispute)

    def event(
        self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None, **extra: Any
    ) -> bytes:
        body = {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "api_version": "2025-09-30.clover",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
            **extra,
        }
        return json.dumps(body).encode()

    def headers(
        self, payload: bytes, *, secret: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        """`Stripe-Signature` exactly as Stripe makes it (the SDK's own helper)."""
        header = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret or self.webhook_secret, timestamp=timestamp
        )
        return {"Content-Type": "application/json", "Stripe-Signature": header}


FakeGateway = TypeVar("FakeGateway", "FakeAlipay", "FakeWeChatPay", "FakeStripe")


@contextmanager
def installed(fake: FakeGateway) -> Iterator[FakeGateway]:
    """Offer the fake's provider and send Roamcard's HTTP to it; any other outbound call fails."""
    providers.register(fake.provider())
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake.mount(router)
        yield fake
