"""A local stand-in for dysmsapi.aliyuncs.com: checks each request's ACS3-HMAC-SHA256 signature the way
the service does (canonical request, string to sign, HMAC with the AccessKey secret) and answers
SendSms and QuerySendDetails with the service's JSON."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

ACCESS_KEY_ID = "LTAI5tTestAccessKeyId"
ACCESS_KEY_SECRET = "test-access-key-secret-0123456789"


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def expected_signature(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    secret: str,
) -> str:
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [
            method,
            path or "/",
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Sent:
    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    template_param: dict[str, Any]
    out_id: str
    send_date: str
    status: int = 1  # 1 waiting, 2 failed, 3 delivered
    err_code: str = ""


@dataclass
class FakeAliyun:
    secret: str = ACCESS_KEY_SECRET
    sent: list[Sent] = field(default_factory=list)
    # Scripted behaviour for the next SendSms calls: "ok", "drop-after" (take it, never answer),
    # "500-before" (fail without taking it), or a business Code such as "isv.MOBILE_NUMBER_ILLEGAL".
    script: list[str] = field(default_factory=list)
    refused_signatures: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(900619746936498440))

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, answer = fake.handle(self, body)
                if answer is None:  # drop the connection without an answer
                    self.close_connection = True
                    self.connection.close()
                    return
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json;charset=utf-8")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any] | None]:
        headers = {name.lower(): value for name, value in request.headers.items()}
        url = urlsplit(request.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        fields = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
        signed = fields.get("SignedHeaders", "").split(";")
        required = {
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        }
        if (
            algorithm != "ACS3-HMAC-SHA256"
            or fields.get("Credential") != ACCESS_KEY_ID
            or not required <= set(signed)
            or headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest()
            or not hmac.compare_digest(
                fields.get("Signature", ""),
                expected_signature(request.command, url.path, query, headers, signed, body, self.secret),
            )
        ):
            self.refused_signatures += 1
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched",
                "RequestId": "req-sig",
            }
        params = dict(query)
        action = headers["x-acs-action"]
        if headers.get("x-acs-version") != "2017-05-25":
            return 400, {"Code": "InvalidVersion", "Message": "bad version", "RequestId": "req-ver"}
        if action == "SendSms":
            return self.send_sms(params, headers)
        if action == "QuerySendDetails":
            return self.query(params)
        return 404, {"Code": "InvalidAction.NotFound", "Message": action, "RequestId": "req-404"}

    def send_sms(self, params: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "500-before":
            return 500, {"Code": "ServiceUnavailable", "Message": "busy", "RequestId": "req-500"}
        if outcome.startswith("isv."):
            return 200, {"Code": outcome, "Message": "refused", "RequestId": "req-isv"}
        date = parsedate_to_datetime(headers["x-acs-date"]) if "," in headers["x-acs-date"] else None
        sent = Sent(
            biz_id=f"{next(self._ids)}^0",
            phone=params["PhoneNumbers"],
            sign_name=params["SignName"],
            template_code=params["TemplateCode"],
            template_param=json.loads(params["TemplateParam"]),
            out_id=params.get("OutId", ""),
            send_date=(date.strftime("%Y%m%d") if date else ""),
        )
        self.sent.append(sent)
        if outcome == "drop-after":
            return 200, None
        return 200, {"Code": "OK", "Message": "OK", "BizId": sent.biz_id, "RequestId": "req-ok"}

    def query(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not params.get("SendDate") or not params.get("PageSize") or not params.get("CurrentPage"):
            return 400, {"Code": "MissingParameter", "Message": "SendDate", "RequestId": "req-q"}
        found = [
            s
            for s in self.sent
            if s.phone == params.get("PhoneNumber")
            and (not params.get("BizId") or s.biz_id == params["BizId"])
        ]
        dtos = [
            {
                "ErrCode": s.err_code or ("DELIVERED" if s.status == 3 else ""),
                "TemplateCode": s.template_code,
                "OutId": s.out_id,
                "ReceiveDate": "2026-12-01 10:00:05",
                "SendDate": "2026-12-01 10:00:00",
                "PhoneNum": s.phone,
                "Content": "【远游卡】…",
                "SendStatus": s.status,
            }
            for s in found
        ]
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "RequestId": "req-q",
            "TotalCount": len(dtos),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos},
        }

    def report_batch(self, sent: Sent) -> list[dict[str, Any]]:
        """An SmsReport push as Alibaba Cloud posts it (a JSON array)."""
        return [
            {
                "phone_number": sent.phone,
                "send_time": "2026-12-01 10:00:00",
                "report_time": "2026-12-01 10:00:05",
                "success": sent.status == 3,
                "err_code": "DELIVERED" if sent.status == 3 else sent.err_code,
                "err_msg": "用户接收成功",
                "sms_size": "1",
                "biz_id": sent.biz_id,
                "out_id": sent.out_id,
            }
        ]
