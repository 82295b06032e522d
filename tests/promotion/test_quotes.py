"""`POST /api/v1/quotes` and the top-up's `quote_id` and `promo_code`: pay exactly what was shown or be
refused, and a code that does not apply is a 422 on `promo_code` saying why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import PromotionCampaign, Quote, TopupOrder
from tests.promotion.test_topup import BODY, TWENTY, _load

QUOTE = {"product_id": "data-5gb-30d", "currency": "CNY"}
CODE = 'code = "SPRING2027"'


def _quote(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/quotes", json={**QUOTE, **body}, headers=auth)


def _topup(client: TestClient, auth: dict[str, str], key: str = "k", **body: Any) -> Any:
    return client.post("/api/v1/topups", json={**BODY, **body}, headers={**auth, "Idempotency-Key": key})


def _orders(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(TopupOrder)) or 0)


def _field_error(response: Any, code: str, field: str = "promo_code") -> None:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert [e["field"] for e in response.json()["errors"]] == [field]


class TestQuote:
    def test_shows_list_price_discounts_charge_and_a_15_minute_expiry(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        answer = _quote(client, auth, payment_method="sandbox")
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["id"].startswith("quo_")
        assert body["product_id"] == "data-5gb-30d"
        assert body["list_price"] == {"amount": 10800, "currency": "CNY"}
        assert body["discounts"] == [
            {"campaign_id": "spring", "name": "春节充值特惠", "amount": {"amount": 2160, "currency": "CNY"}}
        ]
        assert body["bonuses"] == []
        assert body["charge"] == {"amount": 8640, "currency": "CNY"}
        with database.reading() as session:
            saved = session.get(Quote, body["id"])
            assert saved is not None
            assert saved.expires_at - saved.created_at == timedelta(minutes=15)

    def test_needs_a_signed_in_card(self, client: TestClient) -> None:
        assert client.post("/api/v1/quotes", json=QUOTE).status_code == 401


class TestQuoteThenPay:
    def test_the_order_is_placed_at_the_quoted_charge(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        quote = _quote(client, auth).json()
        order = _topup(client, auth, quote_id=quote["id"])
        assert order.status_code == 201, order.text
        assert order.json()["price"] == quote["charge"]
        assert order.json()["discounts"] == quote["discounts"]

    def test_a_quote_too_old_is_refused_and_nothing_is_charged(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        tmp_path: Path,
        frozen_clock: clock.FrozenClock,
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        quote = _quote(client, auth).json()
        frozen_clock.advance(minutes=15)
        refused = _topup(client, auth, quote_id=quote["id"])
        assert refused.status_code == 409
        assert refused.json()["code"] == "quote_expired"
        assert _orders(database) == 0

    def test_a_campaign_paused_after_the_quote_refuses_it(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        quote = _quote(client, auth).json()
        with database.transaction() as session:
            session.execute(update(PromotionCampaign).values(office_status="ended"))
        refused = _topup(client, auth, quote_id=quote["id"])
        assert (refused.status_code, refused.json()["code"]) == (409, "quote_expired")
        assert _orders(database) == 0

    def test_a_quote_for_another_product_or_card_is_a_field_error(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        quote = _quote(client, auth).json()
        _field_error(
            _topup(client, auth, quote_id=quote["id"], product_id="data-1gb-7d"),
            "validation_failed",
            "quote_id",
        )
        _field_error(_topup(client, auth, "k2", quote_id="quo_nope"), "validation_failed", "quote_id")

    def test_with_a_quote_a_different_code_is_a_field_error(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        quote = _quote(client, auth, promo_code="spring2027").json()
        assert quote["charge"]["amount"] == 8640
        _field_error(_topup(client, auth, quote_id=quote["id"], promo_code="OTHER"), "validation_failed")
        same = _topup(client, auth, "k2", quote_id=quote["id"], promo_code="Spring2027")
        assert same.json()["price"]["amount"] == 8640


class TestPromoCode:
    def test_a_right_code_in_any_case_applies(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        assert _topup(client, auth).json()["price"]["amount"] == 10800
        assert _topup(client, auth, "k2", promo_code="spring2027").json()["price"]["amount"] == 8640

    def test_an_unknown_code_is_refused_and_nothing_is_written(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        _field_error(_topup(client, auth, promo_code="SPRING2028"), "promo_code_unknown")
        _field_error(_quote(client, auth, promo_code="SPRING2028"), "promo_code_unknown")
        assert _orders(database) == 0

    def test_a_code_whose_offer_has_not_started_says_so(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        tmp_path: Path,
        frozen_clock: clock.FrozenClock,
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        with database.transaction() as session:
            session.execute(update(PromotionCampaign).values(starts_at=clock.now() + timedelta(seconds=1)))
        _field_error(_topup(client, auth, promo_code="SPRING2027"), "promo_code_not_yet_valid")

    def test_a_code_whose_offer_is_over_says_so(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        tmp_path: Path,
        frozen_clock: clock.FrozenClock,
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        with database.transaction() as session:
            session.execute(update(PromotionCampaign).values(ends_at=clock.now()))
        _field_error(_topup(client, auth, promo_code="SPRING2027"), "promo_code_expired")

    def test_a_code_for_another_product_says_it_does_not_apply(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE + '\nproducts = ["balance-30"]'))
        _field_error(_topup(client, auth, promo_code="SPRING2027"), "promo_code_not_applicable")


class TestQuoteKeepsNoCode:
    def test_a_shared_code_is_kept_only_as_its_keyed_hash_and_still_matches_its_order(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        quote = _quote(client, auth, promo_code="spring2027").json()
        with database.reading() as session:
            saved = session.get(Quote, quote["id"])
            assert saved is not None
            assert saved.promo_code_hash is not None
            assert "SPRING2027" not in saved.promo_code_hash.upper()
            assert saved.promo_code_hash.partition(":")[0]  # tagged with its key id
        _field_error(
            _topup(client, auth, "other", quote_id=quote["id"], promo_code="AUTUMN"), "validation_failed"
        )
        order = _topup(client, auth, quote_id=quote["id"], promo_code=" Spring2027 ")
        assert order.status_code == 201, order.text
        assert order.json()["price"] == quote["charge"] == {"amount": 8640, "currency": "CNY"}

    def test_a_different_right_code_with_a_quote_is_refused(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE), ("autumn", TWENTY, 'code = "AUTUMN2027"'))
        quote = _quote(client, auth, promo_code="SPRING2027").json()
        _field_error(_topup(client, auth, quote_id=quote["id"], promo_code="AUTUMN2027"), "validation_failed")
        assert _orders(database) == 0


class TestPromoCodeMessages:
    def test_the_field_message_says_why_in_the_requests_language(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE + '\nproducts = ["balance-30"]'))
        cases = [
            ("NOPE", "promo_code_unknown", "没有这个优惠码，请检查后重试。"),
            ("SPRING2027", "promo_code_not_applicable", "此优惠码不适用于该商品、支付方式或渠道。"),
        ]
        for code, problem, chinese in cases:
            answer = client.post(
                "/api/v1/quotes",
                json={**QUOTE, "promo_code": code},
                headers={**auth, "Accept-Language": "zh-CN"},
            )
            _field_error(answer, problem)
            assert answer.json()["errors"][0]["message"] == chinese


class TestSweep:
    """Quotes are deleted a day (ROAMCARD_QUOTE_RETENTION_HOURS) after they expired, by a worker sweeper."""

    def _ids(self, database: Database) -> list[str]:
        with database.reading() as session:
            return sorted(session.scalars(select(Quote.id)))

    def test_a_quote_a_day_past_its_expiry_is_deleted_and_a_younger_one_kept(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        frozen_clock: clock.FrozenClock,
    ) -> None:
        from roamcard.jobs.sweepers import SWEEPERS, purge_expired_quotes

        old = _quote(client, auth).json()["id"]
        frozen_clock.advance(hours=1)
        young = _quote(client, auth).json()["id"]
        assert purge_expired_quotes in SWEEPERS
        # `old` expired 45 minutes ago: kept (a late retry still hears `quote_expired`, not "no such quote").
        assert purge_expired_quotes(database) == 0
        frozen_clock.advance(hours=23, minutes=15)  # old: expired 24 h ago exactly; young: 23 h
        assert purge_expired_quotes(database) == 0
        frozen_clock.advance(seconds=1)
        assert purge_expired_quotes(database) == 1
        assert self._ids(database) == [young]
        assert old not in self._ids(database)
        assert purge_expired_quotes(database) == 0

    def test_the_retention_is_configurable_and_purging_works_in_chunks(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        frozen_clock: clock.FrozenClock,
        monkeypatch: Any,
    ) -> None:
        from roamcard.config import get_settings
        from roamcard.topup.service import quote as quotes

        settings = get_settings().model_copy(update={"quote_retention_hours": 1})
        monkeypatch.setattr("roamcard.topup.service.quote.get_settings", lambda: settings)
        made = [_quote(client, auth).json()["id"] for _ in range(3)]
        frozen_clock.advance(minutes=15 + 60, seconds=1)
        with database.tx() as tx:
            assert quotes.purge_expired(tx, limit=2) == 2
        with database.tx() as tx:
            assert quotes.purge_expired(tx, limit=2) == 1
        assert len(made) == 3
        assert self._ids(database) == []
