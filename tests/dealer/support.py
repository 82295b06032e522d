"""Helpers for dealer tests: dealers made through the service, POS requests signed as a till signs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.dealer.service import manage
from roamcard.kit import clock
from roamcard.models import Dealer, LedgerAccount
from tests.signed import SignedClient


@dataclass(frozen=True)
class MadeDealer:
    public_id: str
    id: int
    api_key_id: str
    secret: str
    float_account_id: int


def make_dealer(
    database: Database,
    *,
    currency: str = "USD",
    commission_bps: int = 500,
    float_amount: int = 100_000,
    timezone: str = "Asia/Shanghai",
) -> MadeDealer:
    with database.transaction() as session:
        made = manage.create_dealer(
            session, name="Campus Shop", currency=currency, commission_bps=commission_bps, timezone=timezone
        )
        if float_amount:
            manage.credit_float(session, made.dealer, float_amount, reference="opening-deposit")
        dealer = made.dealer
        return MadeDealer(
            dealer.public_id, dealer.id, dealer.api_key_id, made.api_secret, dealer.float_account_id
        )


def float_balance(database: Database, dealer: MadeDealer) -> int:
    with database.reading() as session:
        account = session.get(LedgerAccount, dealer.float_account_id)
        assert account is not None
        return account.balance


def dealer_row(database: Database, dealer: MadeDealer) -> Dealer:
    with database.reading() as session:
        row = session.get(Dealer, dealer.id)
        assert row is not None
        return row


class Till(SignedClient):
    """Signs requests as a dealer's till does (tests/signed.py)."""

    def __init__(self, client: TestClient, dealer: MadeDealer, *, secret: str | None = None) -> None:
        super().__init__(client, dealer.api_key_id, secret or dealer.secret)
        self.dealer = dealer


def today() -> date:
    return clock.now().date()
