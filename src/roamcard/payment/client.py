"""What a gateway needs to know about the payer's browser: its IP (WeChat Pay H5) and whether it is a
phone, which decides between a QR code to scan (desktop) and a redirect (mobile)."""

from __future__ import annotations

import re

from fastapi import Request

from roamcard.payment.providers.base import ClientContext

_MOBILE = re.compile(r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|MicroMessenger|AlipayClient", re.I)


def is_mobile(user_agent: str | None) -> bool:
    return bool(user_agent and _MOBILE.search(user_agent))


def client_context(request: Request) -> ClientContext:
    return ClientContext(
        ip=request.client.host if request.client else None,
        mobile=is_mobile(request.headers.get("User-Agent")),
    )
