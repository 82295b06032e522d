"""A partner top-up is priced by the one quote step with the `partner` channel: a campaign for that
channel lowers the price (and so the partner's cost and commission), promotion expense pays the discount
to sales, and the ledger verifies; a campaign for other channels does not apply."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from roamcard.db import Database
from tests.partner.support import TOPUPS, Platform, float_balance, make_cards, make_partner, topup_body
from tests.promotion.test_topup import TWENTY, _load
from tests.voucher.support import assert_books_balance, derived_balance


def test_a_campaign_for_the_partner_channel_applies(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    _load(database, tmp_path, ("partners", TWENTY, 'channels = ["partner"]'))
    card = make_cards(database)
    partner = make_partner(database, commission_bps=500, float_amount=10_000)
    platform = Platform(client, partner)
    quote = platform.post(
        "/api/v1/partner/validations", {k: v for k, v in topup_body(card).items() if k != "external_id"}
    )
    assert quote.json()["price"] == {"amount": 800, "currency": "USD"}
    assert quote.json()["list_price"] == {"amount": 1000, "currency": "USD"}
    created = platform.post(TOPUPS, topup_body(card)).json()
    assert created["price"] == {"amount": 800, "currency": "USD"}
    assert created["commission"] == {"amount": 40, "currency": "USD"}
    assert float_balance(database, partner) == 10_000 - 760
    assert derived_balance(database, "operator:promotion:USD") == -200  # the discount, paid to sales
    assert_books_balance(database)


def test_a_campaign_for_other_channels_does_not(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    _load(database, tmp_path, ("web-only", TWENTY, 'channels = ["web"]'))
    card = make_cards(database)
    partner = make_partner(database, commission_bps=0)
    assert Platform(client, partner).post(TOPUPS, topup_body(card)).json()["price"]["amount"] == 1000
