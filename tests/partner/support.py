"""Helpers for partner tests: partners made through the service, requests signed as a partner signs them
(reseller/signing.py, with a fresh nonce each time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card, LedgerAccount, Partner
from roamcard.partner.service import manage
from roamcard.partner.service.sandbox import mark_sandbox_card
from tests.factories import make_card, make_catalog
from tests.signed import SignedClient

TOPUPS = "/api/v1/partner/topups"


@dataclass(frozen=True)
class MadePartner:
    public_id: str
    id: int
    api_key_id: str
    secret: str
    float_account_id: int


def make_partner(
    database: Database,
    *,
    currency: str = "USD",
    commission_bps: int = 500,
    float_amount: int = 100_000,
    credit_limit: int = 0,
    mode: str = "live",
    callback_url: str = "https://partner.example/roamcard/callbacks",
    timezone: str = "Asia/Shanghai",
    allow_ips: list[str] | None = None,
    products: list[str] | None = None,
) -> MadePartner:
    with database.transaction() as session:
        made = manage.create_partner(
            session,
            name="Travel Mini-Program",
            currency=currency,
            callback_url=callback_url,
            timezone=timezone,
            mode=mode,
            credit_limit=credit_limit,
            commission_bps=commission_bps,
            allow_ips=allow_ips,
            products=products,
        )
        if float_amount:
            manage.credit_float(session, made.partner, float_amount, reference="opening-deposit")
        partner = made.partner
        return MadePartner(
            partner.public_id, partner.id, made.api_key_id, made.api_secret, partner.float_account_id
        )


def make_cards(database: Database, *, sandbox: bool = False) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        if sandbox:
            mark_sandbox_card(session, card.id)
        return card


def float_balance(database: Database, partner: MadePartner) -> int:
    with database.reading() as session:
        account = session.get(LedgerAccount, partner.float_account_id)
        assert account is not None
        return account.balance


def partner_row(database: Database, partner: MadePartner) -> Partner:
    with database.reading() as session:
        row = session.get(Partner, partner.id)
        assert row is not None
        return row


def topup_body(card: Card, external_id: str = "mp-0001", **changes: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "card_number": card.card_number,
        "product_id": "balance-10",
        "currency": "USD",
        **changes,
    }


class Platform(SignedClient):
    """Signs requests as a partner platform does (tests/signed.py)."""

    def __init__(
        self,
        client: TestClient,
        partner: MadePartner,
        *,
        key_id: str | None = None,
        secret: str | None = None,
    ) -> None:
        super().__init__(client, key_id or partner.api_key_id, secret or partner.secret)
        self.partner = partner
