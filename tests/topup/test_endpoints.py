from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.models import IdempotencyKey, Payment, TopupOrder
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.topup.test_api_flow import sign_in

DATA_PACK = {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"}


@pytest.fixture
def auth(database: Database, client: TestClient) -> dict[str, str]:
    with database.transaction() as session:
        make_catalog(session)
        number = make_card(session).card_number
    return sign_in(client, number)


def create(client: TestClient, auth: dict[str, str], body: dict[str, Any], key: str = "k", **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/topups", json=body, headers={**auth, "Idempotency-Key": key, **headers})


def orders(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(TopupOrder)) or 0)


class TestCatalogue:
    def test_products_priced_in_the_asked_currency(self, client: TestClient, auth: dict[str, str]) -> None:
        products = {p["id"]: p for p in client.get("/api/v1/products?currency=CNY").json()}
        assert products["balance-10"]["price"] == {"amount": 7200, "currency": "CNY"}
        assert products["data-5gb-30d"]["coverage"] == ["US", "CA", "MX"]
        assert products["balance-custom"]["price"] is None
        assert products["balance-custom"]["custom_amount"] == {"min": 500, "max": 50000, "currency": "USD"}

    @pytest.mark.parametrize("currency", ["usd", "XYZ", "EUR"])
    def test_bad_or_unsold_currency_query_is_a_field_error(
        self, client: TestClient, auth: dict[str, str], currency: str
    ) -> None:
        response = client.get(f"/api/v1/products?currency={currency}")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "currency"


class TestCreateValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({**DATA_PACK, "product_id": "no-such-product"}, "product_id"),
            ({**DATA_PACK, "currency": "EUR"}, "currency"),
            ({**DATA_PACK, "currency": "cny"}, "currency"),
            ({**DATA_PACK, "payment_method": "cash"}, "payment_method"),
            ({**DATA_PACK, "amount": 1000}, "amount"),
            ({"product_id": "balance-custom", "currency": "USD", "payment_method": "sandbox"}, "amount"),
            (
                {
                    "product_id": "balance-custom",
                    "currency": "USD",
                    "payment_method": "sandbox",
                    "amount": 499,
                },
                "amount",
            ),
            (
                {
                    "product_id": "balance-custom",
                    "currency": "USD",
                    "payment_method": "sandbox",
                    "amount": 50001,
                },
                "amount",
            ),
            (
                {
                    "product_id": "balance-custom",
                    "currency": "USD",
                    "payment_method": "sandbox",
                    "amount": 10.5,
                },
                "amount",
            ),
            (
                {
                    "product_id": "balance-custom",
                    "currency": "USD",
                    "payment_method": "sandbox",
                    "amount": "1000",
                },
                "amount",
            ),
            ({"currency": "USD", "payment_method": "sandbox"}, "product_id"),
            ({**DATA_PACK, "surprise": 1}, "surprise"),
        ],
    )
    def test_bad_field_is_reported_and_nothing_is_written(
        self, database: Database, client: TestClient, auth: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        response = create(client, auth, body, **{"Accept-Language": "zh-CN"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]]
        assert orders(database) == 0
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    def test_malformed_json(self, database: Database, client: TestClient, auth: dict[str, str]) -> None:
        response = client.post(
            "/api/v1/topups",
            content=b'{"product_id": ',
            headers={**auth, "Idempotency-Key": "k", "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "body"
        assert orders(database) == 0

    def test_missing_idempotency_key(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        response = client.post("/api/v1/topups", json=DATA_PACK, headers=auth)
        assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_missing")
        assert orders(database) == 0

    def test_unauthenticated(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.post("/api/v1/topups", json=DATA_PACK, headers={"Idempotency-Key": "k"})
        assert response.status_code == 401

    def test_custom_amount_price_rounds_up_in_cny(self, client: TestClient, auth: dict[str, str]) -> None:
        body = {
            "product_id": "balance-custom",
            "currency": "CNY",
            "payment_method": "sandbox",
            "amount": 1234,
        }
        response = create(client, auth, body)
        assert response.status_code == 201
        assert response.json()["price"] == {"amount": 8885, "currency": "CNY"}  # 12.34 * 7.2 = 88.848
        assert response.json()["grants"] == [{"asset": "USD", "amount": 1234}]


class TestIdempotency:
    def test_same_key_same_body_replays_the_first_response(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        first = create(client, auth, DATA_PACK)
        again = create(client, auth, DATA_PACK)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert orders(database) == 1

    def test_same_key_different_body_conflicts(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        create(client, auth, DATA_PACK)
        response = create(client, auth, {**DATA_PACK, "product_id": "data-1gb-7d"})
        assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_reused")
        assert orders(database) == 1

    def test_keys_are_per_card(self, database: Database, client: TestClient, auth: dict[str, str]) -> None:
        with database.transaction() as session:
            number = make_card(session).card_number
        other_auth = sign_in(client, number)
        assert (
            create(client, auth, DATA_PACK).json()["id"] != create(client, other_auth, DATA_PACK).json()["id"]
        )

    def test_parallel_creates_with_one_key_make_one_order(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        from roamcard.auth import service as auth_service
        from roamcard.idempotency import service as idempotency
        from roamcard.topup.schemas import TopupOut
        from roamcard.topup.service.create import create_topup

        with database.reading() as session:
            card = auth_service.card_for_token(session, auth["Authorization"][7:])

        def attempt(_: int) -> str:
            with database.transaction() as session:

                def make() -> tuple[int, dict[str, Any]]:
                    order, payment = create_topup(session, card, **DATA_PACK)
                    return 201, TopupOut.of(order, payment).model_dump(mode="json")

                stored = idempotency.run_once(
                    session,
                    scope=f"card:{card.id}:topups",
                    key="parallel",
                    fingerprint=idempotency.request_fingerprint("POST", "/api/v1/topups", DATA_PACK),
                    create=make,
                )
                return str(stored.body["id"])

        results = run_in_parallel(16, attempt)
        assert [r for r in results if isinstance(r, Exception)] == []
        assert len(set(results)) == 1
        assert orders(database) == 1


class TestReading:
    def test_another_cards_topup_is_not_found(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        order_id = create(client, auth, DATA_PACK).json()["id"]
        with database.transaction() as session:
            number = make_card(session).card_number
        stranger = sign_in(client, number)
        for path in (f"/api/v1/topups/{order_id}", f"/api/v1/topups/{order_id}/receipt"):
            response = client.get(path, headers=stranger)
            assert (response.status_code, response.json()["code"]) == (404, "topup_not_found")

    def test_history_is_newest_first_in_pages(self, client: TestClient, auth: dict[str, str]) -> None:
        created = [create(client, auth, DATA_PACK, key=f"k{i}").json()["id"] for i in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/api/v1/topups", params=params, headers=auth).json()
            seen += [o["id"] for o in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(created))

    def test_bad_cursor_is_a_field_error(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.get("/api/v1/topups", params={"cursor": "garbage"}, headers=auth)
        assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "cursor")

    def test_receipts_in_html_and_pdf_with_chinese_text(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        order = create(client, auth, DATA_PACK).json()
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
        build_worker(database).drain()
        zh = {**auth, "Accept-Language": "zh-CN"}
        html = client.get(f"/api/v1/topups/{order['id']}/receipt", headers=zh)
        assert html.status_code == 200
        assert "5GB 流量包" in html.text
        assert "¥108.00" in html.text
        pdf = client.get(f"/api/v1/topups/{order['id']}/receipt.pdf", headers=zh)
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "流量包" in text
        assert order["id"] in text


class TestPaymentWindow:
    def test_unpaid_order_expires_and_the_checkout_closes(
        self, database: Database, client: TestClient, auth: dict[str, str], frozen_clock: Any
    ) -> None:
        order = create(client, auth, DATA_PACK).json()
        frozen_clock.advance(minutes=31)
        build_worker(database).sweep_if_due()
        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json()["status"] == "expired"
        with database.reading() as session:
            assert session.get(Payment, order["payment"]["id"]).status == "expired"  # type: ignore[union-attr]
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        assert client.post(checkout, data={"decision": "approve"}).status_code == 409
