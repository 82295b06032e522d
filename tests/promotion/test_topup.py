"""A promoted top-up through the one quote step: the order is charged the discounted price, records what
was applied, and on fulfilment promotion expense pays the discount to sales and every bonus to the card;
`ledger verify` stays clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.models import LedgerAccount, Payment, PromotionCampaign, TopupOrder
from roamcard.promotion.service.load import load_campaigns

BODY = {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"}
CAMPAIGN = """
[[campaigns]]
id = "{id}"
name_zh = "春节充值特惠"
name_en = "Spring Festival offer"
starts_at = "2020-01-01T00:00:00+08:00"
ends_at = "2100-01-01T00:00:00+08:00"
benefit = {benefit}
{extra}
"""
TWENTY = '{ kind = "percent_off", percent = 20 }'
PACK = (
    '{ kind = "bonus_pack", asset = "DATA_BYTES", amount = 1073741824, validity_days = 30, '
    "value = { CNY = 100 } }"
)


def _load(database: Database, tmp_path: Path, *campaigns: tuple[str, str, str]) -> None:
    text = "".join(CAMPAIGN.format(id=c, benefit=b, extra=e) for c, b, e in campaigns)
    path = tmp_path / "campaigns.toml"
    path.write_text(text, encoding="utf-8")
    with database.transaction() as session:
        load_campaigns(session, path)


def _create(client: TestClient, auth: dict[str, str], key: str = "k", **body: Any) -> dict[str, Any]:
    created = client.post("/api/v1/topups", json={**BODY, **body}, headers={**auth, "Idempotency-Key": key})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _pay(database: Database, client: TestClient, order: dict[str, Any]) -> None:
    checkout_path = order["payment"]["checkout_url"].removeprefix("http://testserver")
    client.post(checkout_path, data={"decision": "approve"}, follow_redirects=False)
    build_worker(database).drain()


def _balances(database: Database) -> dict[str, int]:
    with database.reading() as session:
        derived = ledger_repository.derived_balances(session)
        return {a.code: derived.get(a.id, 0) for a in session.scalars(select(LedgerAccount))}


def _verify_clean(database: Database) -> None:
    with database.reading() as session:
        assert ledger.verify(session).ok


class TestDiscount:
    def test_the_order_is_charged_the_discounted_price_and_shows_the_breakdown(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        order = _create(client, auth)
        assert order["list_price"] == {"amount": 10800, "currency": "CNY"}
        assert order["price"] == {"amount": 8640, "currency": "CNY"}
        assert order["discounts"] == [
            {"campaign_id": "spring", "name": "春节充值特惠", "amount": {"amount": 2160, "currency": "CNY"}}
        ]
        with database.reading() as session:
            payment = session.get(Payment, order["payment"]["id"])
            stored = session.get(TopupOrder, order["id"])
            assert payment is not None
            assert stored is not None
            assert (payment.amount, payment.currency) == (8640, "CNY")
            assert stored.list_price_amount == 10800
            assert stored.promotions is not None
            assert [(p["campaign_id"], p["kind"], p["amount"]) for p in stored.promotions] == [
                ("spring", "discount", 2160)
            ]
        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json() == order

    def test_once_paid_the_card_gets_the_full_product_and_expense_pays_sales_the_difference(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json()["status"] == "fulfilled"
        card = client.get("/api/v1/card", headers=auth).json()
        assert [(a["kind"], a["remaining"]) for a in card["allowances"]] == [("data", 5 * 1024**3)]
        books = _balances(database)
        assert abs(books["operator:sales:CNY"]) == 10800
        assert abs(books["operator:promotion:CNY"]) == 2160
        assert abs(books["operator:gateway:sandbox:CNY"]) == 8640
        _verify_clean(database)

    def test_a_reload_that_renames_and_changes_the_campaign_never_rewrites_a_past_order(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        shown = client.get(f"/api/v1/topups/{order['id']}", headers=auth).json()
        path = tmp_path / "renamed.toml"
        path.write_text(
            CAMPAIGN.format(id="spring", benefit='{ kind = "percent_off", percent = 50 }', extra="")
            .replace("春节充值特惠", "新名字")
            .replace("Spring Festival offer", "New name"),
            encoding="utf-8",
        )
        with database.transaction() as session:
            assert load_campaigns(session, path).updated == 1
        assert _create(client, auth, "k2")["price"] == {"amount": 5400, "currency": "CNY"}  # new orders
        again = client.get(f"/api/v1/topups/{order['id']}", headers=auth).json()
        assert again["discounts"] == shown["discounts"]
        assert again["discounts"][0]["name"] == "春节充值特惠"
        assert again["discounts"][0]["amount"] == {"amount": 2160, "currency": "CNY"}
        with database.reading() as session:
            stored = session.get(TopupOrder, order["id"])
            assert stored is not None
            assert stored.promotions is not None
            assert [(p["name_zh"], p["amount"]) for p in stored.promotions] == [("春节充值特惠", 2160)]
        _verify_clean(database)

    def test_a_campaign_paused_in_the_back_office_no_longer_applies(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        with database.transaction() as session:
            session.execute(update(PromotionCampaign).values(office_status="paused"))
        order = _create(client, auth)
        assert order["price"] == order["list_price"] == {"amount": 10800, "currency": "CNY"}
        assert order["discounts"] == []

    def test_a_campaign_for_other_channels_does_not_apply(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, 'channels = ["ivr"]'))
        assert _create(client, auth)["discounts"] == []

    def test_a_budgeted_campaign_applies_while_its_budget_lasts_in_the_order_currency(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, "budget = { CNY = 5000000 }"))
        assert _create(client, auth)["price"] == {"amount": 8640, "currency": "CNY"}
        usd = _create(client, auth, "k-usd", currency="USD")
        assert usd["price"] == usd["list_price"]  # no budget in USD: not given


class TestBonus:
    def test_a_bonus_pack_is_granted_from_promotion_expense_with_the_product(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("winter", PACK, ""))
        order = _create(client, auth)
        assert order["price"] == {"amount": 10800, "currency": "CNY"}
        assert order["bonuses"] == [
            {
                "campaign_id": "winter",
                "name": "春节充值特惠",
                "asset": "DATA_BYTES",
                "amount": 1024**3,
                "validity_days": 30,
            }
        ]
        _pay(database, client, order)
        card = client.get("/api/v1/card", headers=auth).json()
        assert sorted(a["remaining"] for a in card["allowances"]) == [1024**3, 5 * 1024**3]
        books = _balances(database)
        assert abs(books["operator:promotion:DATA_BYTES"]) == 1024**3
        assert abs(books["operator:issued:DATA_BYTES"]) == 5 * 1024**3
        _verify_clean(database)

    def test_a_bonus_balance_is_credited_to_the_wallet_and_stacks_with_a_discount(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        bonus = '{ kind = "bonus_balance", amounts = { USD = 300, CNY = 2000 } }'
        _load(database, tmp_path, ("spring", TWENTY, ""), ("cash", bonus, "stackable = true"))
        order = _create(client, auth)
        assert order["price"] == {"amount": 8640, "currency": "CNY"}
        assert [b["campaign_id"] for b in order["bonuses"]] == ["cash"]
        _pay(database, client, order)
        card = client.get("/api/v1/card", headers=auth).json()
        assert card["balance"]["amount"] == 300
        _verify_clean(database)
