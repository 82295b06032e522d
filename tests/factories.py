"""Keyword-only factories for test data; each flushes, none commits."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from sqlalchemy.orm import Session

from roamcard.card import numbers
from roamcard.card import service as card_service
from roamcard.catalog import service as catalog_service
from roamcard.config import get_settings
from roamcard.models import Card, Notification
from roamcard.sandbox import signature

DEFAULT_PASSWORD = "20261225"
_serial = itertools.count(1)


def make_catalog(session: Session) -> None:
    catalog_service.load_catalog(session, catalog_service.DEMO_CATALOG)


def make_card(
    session: Session,
    *,
    password: str = DEFAULT_PASSWORD,
    phone: str = "+8613800138000",
    language: str = "zh-CN",
    card_number: str | None = None,
) -> Card:
    number = card_number or numbers.new_card_number(serial=next(_serial) + 900_000_000)
    return card_service.issue_card(
        session, phone=phone, password=password, language=language, card_number=number
    ).card


def sandbox_event(
    payment_id: str,
    amount: int,
    currency: str,
    *,
    kind: str = "payment.succeeded",
    event_id: str | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "id": event_id or f"evt_{payment_id}_{kind}",
        "type": kind,
        "data": {"payment_id": payment_id, "amount": amount, "currency": currency},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sandbox_headers(
    body: bytes, *, timestamp: int | None = None, secret: str | None = None
) -> dict[str, str]:
    secret = secret or get_settings().sandbox_webhook_secret.get_secret_value()
    return {
        "Content-Type": "application/json",
        "Roamcard-Signature": signature.sign(secret, timestamp or int(time.time()), body),
    }


# -- SMS (issue 9 item 4): secrets are stored encrypted apart from the masked body --------------------
def sms_text(notification: Notification) -> str:
    """The text the phone gets, secret included while it is still kept (before the message is sent)."""
    from roamcard.notification.service import full_text

    text = full_text(notification)
    assert text is not None, "the message's secret was already deleted"
    return text


# -- eSIM profiles ----------------------------------------------------------------------------------------
_esim_serial = itertools.count(1)


def make_iccid(serial: int | None = None) -> str:
    """A valid 19-digit ICCID (89 prefix, Luhn check digit)."""
    from roamcard.kit import luhn

    payload = f"8901260{serial if serial is not None else next(_esim_serial) + 10_000_000:011d}"
    return payload + luhn.check_digit(payload)


def make_esim_profiles(session: Session, count: int, *, msisdn: bool = True) -> list[str]:
    """`count` available profiles in stock; returns their ICCIDs."""
    from sqlalchemy import insert

    from roamcard.kit import clock
    from roamcard.models import EsimProfile

    iccids = []
    rows = []
    for _ in range(count):
        serial = next(_esim_serial) + 20_000_000
        iccid = make_iccid(serial)
        iccids.append(iccid)
        rows.append(
            {
                "iccid": iccid,
                "imsi": f"310260{serial:09d}",
                "msisdn": f"+1202555{serial % 10_000:04d}" if msisdn else None,
                "smdp_address": "smdp.example.com",
                "matching_id": f"RC-{serial:08d}",
                "confirmation_code_required": False,
                "status": "available",
                "created_at": clock.now(),
            }
        )
    if rows:
        session.execute(insert(EsimProfile), rows)
        session.flush()
    return iccids
