"""Deliver the sandbox gateway's signed notifications over HTTP, like a real gateway would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.registry import external_job
from roamcard.sandbox import signature
from roamcard.sandbox.service import notification_url

Deliver = Callable[[str, bytes, dict[str, str]], int]


class DeliveryFailed(Exception):
    pass


def _deliver_over_http(url: str, body: bytes, headers: dict[str, str]) -> int:
    with httpx.Client(timeout=10) as client:
        return client.post(url, content=body, headers=headers).status_code


_deliver: Deliver = _deliver_over_http


def set_delivery(deliver: Deliver | None) -> None:
    """Tests route deliveries into the app in-process."""
    global _deliver
    _deliver = deliver or _deliver_over_http


@external_job("sandbox.deliver_notification")
def deliver_notification(_database: Database, payload: dict[str, Any]) -> None:
    body = payload["body"].encode()
    secret = get_settings().sandbox_webhook_secret.get_secret_value()
    headers = {
        "Content-Type": "application/json",
        "Roamcard-Signature": signature.sign(secret, int(time.time()), body),
    }
    status = _deliver(notification_url(), body, headers)
    if status >= 300:
        raise DeliveryFailed(f"merchant answered {status}")
