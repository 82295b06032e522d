"""Buying a new travel card online (issue 13, part 5): POST/GET /api/v1/card-orders, on both engines."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.card import passwords
from roamcard.card_order import service
from roamcard.card_order.schemas import CardOrderCreate
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.idempotency.service import StoredResponse
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.ledger import service as ledger
from roamcard.lifecycle import as_tx
from roamcard.models import Card, CardOrder, EsimProfile, Notification, Payment, StateTransition
from roamcard.payment.providers.base import ClientContext
from tests.factories import make_catalog, make_esim_profiles, sms_text

ORDER = {
    "product_id": "starter-10",
    "currency": "CNY",
    "payment_method": "sandbox",
    "phone": "+8613800138000",
    "language": "zh-CN",
    "email": "traveller@example.com",
}


def stock(database: Database, count: int) -> list[str]:
    with database.transaction() as session:
        make_catalog(session)
        return make_esim_profiles(session, count)


def create(client: TestClient, key: str = "buy-1", **changes: Any) -> Any:
    return client.post("/api/v1/card-orders", json={**ORDER, **changes}, headers={"Idempotency-Key": key})


def read(client: TestClient, order: dict[str, Any], token: str | None = None) -> Any:
    token = token if token is not None else order["order_token"]
    return client.get(f"/api/v1/card-orders/{order['id']}", headers={"Authorization": f"Bearer {token}"})


def pay(client: TestClient, database: Database, order: dict[str, Any]) -> None:
    checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
    client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
    build_worker(database).drain()


class TestBuyACard:
    def test_paid_order_issues_the_card_on_its_profile_credits_it_and_sends_the_sms(
        self, database: Database, client: TestClient
    ) -> None:
        iccids = stock(database, 2)
        created = create(client)
        assert created.status_code == 201, created.text
        order = created.json()
        assert order["id"].startswith("cor_")
        assert order["status"] == "pending_payment"
        assert order["price"] == {"amount": 7200, "currency": "CNY"}
        assert order["payment"]["provider"] == "sandbox"
        assert order["payment"]["checkout_url"]
        assert order["order_token"]
        with database.reading() as session:
            profile = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccids[0])).one()
            assert profile.status == "allocated"  # reserved before anyone pays
            card = session.get(Card, profile.card_id)
            assert card is not None
            assert card.status == "ordered"
            assert card.card_number != iccids[0]
            stored = session.get(CardOrder, order["id"])
            assert stored is not None
            assert order["order_token"] not in stored.token_hash

        pending = read(client, order)
        assert pending.status_code == 200, pending.text
        assert pending.json()["status"] == "pending_payment"
        assert pending.json()["card"] is None

        pay(client, database, order)

        first = read(client, order).json()
        assert first["status"] == "fulfilled"
        assert first["card"]["card_number"] == iccids[0]  # the card number is the ICCID
        assert first["card"]["msisdn"].startswith("+1")
        password = first["password"]
        assert password is not None
        assert len(password) == 8
        assert password.isdigit()
        assert read(client, order).json()["password"] is None  # once, then never
        with database.reading() as session:
            card = session.scalars(select(Card).where(Card.card_number == iccids[0])).one()
            assert card.status == "active"
            assert passwords.verify_password(card.password_hash, password)
            assert card.phone == "+8613800138000"
            assert card.currency == "USD"
            tx = as_tx(session)
            assert ledger.balance(tx, ledger.wallet(tx, card.id, "USD")) == 1000
            texts = [sms_text(n) if n.secret else n.body for n in session.scalars(select(Notification))]
            history = session.scalars(
                select(StateTransition.to_status)
                .where(StateTransition.entity_type == "card_order", StateTransition.entity_id == order["id"])
                .order_by(StateTransition.id)
            ).all()
        assert history == ["pending_payment", "paid", "fulfilled"]
        ready = [t for t in texts if iccids[0] in t and password not in t and "/esim" in t]
        assert len(ready) == 1
        assert first["card"]["msisdn"] in ready[0]
        assert len([t for t in texts if password in t]) == 1  # the password in an SMS of its own

        signed_in = client.post("/api/v1/sessions", json={"card_number": iccids[0], "password": password})
        assert signed_in.status_code == 201, signed_in.text

    def test_create_is_idempotent_and_reserves_one_profile(
        self, database: Database, client: TestClient
    ) -> None:
        stock(database, 3)
        first = create(client, "same")
        again = create(client, "same")
        assert first.status_code == again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()  # the token too, though it is stored nowhere in clear
        assert create(client, "same", language="en").status_code == 409
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(CardOrder)) == 1
            assert (
                session.scalar(
                    select(func.count()).select_from(EsimProfile).where(EsimProfile.status == "allocated")
                )
                == 1
            )

    def test_empty_stock_answers_409_and_nothing_is_charged(
        self, database: Database, client: TestClient
    ) -> None:
        stock(database, 0)
        refused = create(client)
        assert refused.status_code == 409
        assert refused.json()["code"] == "esim_out_of_stock"
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(Payment)) == 0
            assert session.scalar(select(func.count()).select_from(Card)) == 0

    def test_a_top_up_product_is_no_card_and_a_starter_is_no_top_up(
        self, database: Database, client: TestClient
    ) -> None:
        stock(database, 1)
        assert create(client, product_id="balance-10").status_code == 422
        listed = client.get("/api/v1/products").json()
        assert "starter-10" not in [p["id"] for p in listed]
        assert "starter-10" in [p["id"] for p in client.get("/api/v1/products?kind=starter").json()]

    def test_orders_are_limited_per_client_ip(
        self, database: Database, client: TestClient, monkeypatch: Any
    ) -> None:
        stock(database, 5)
        monkeypatch.setattr(get_settings(), "card_order_ip_limit", 2)
        assert [create(client, f"k{i}").status_code for i in range(3)] == [201, 201, 429]
        assert create(client, "k0").status_code == 201  # a replay is not a new order


class TestTokenGuard:
    def test_no_token_a_wrong_token_or_another_orders_token_is_refused(
        self, database: Database, client: TestClient
    ) -> None:
        stock(database, 2)
        mine = create(client, "a").json()
        theirs = create(client, "b").json()
        assert client.get(f"/api/v1/card-orders/{mine['id']}").status_code == 401
        assert read(client, mine, "nope").status_code == 401
        assert read(client, mine, theirs["order_token"]).status_code == 401
        assert read(client, {"id": "cor_unknown"}, mine["order_token"]).status_code == 401
        assert read(client, mine).status_code == 200


class TestExpiry:
    def test_an_unpaid_order_expires_and_its_profile_goes_back_to_stock(
        self, database: Database, client: TestClient, frozen_clock: FrozenClock
    ) -> None:
        iccids = stock(database, 1)
        order = create(client).json()
        assert create(client, "second").json()["code"] == "esim_out_of_stock"
        frozen_clock.advance(minutes=31)
        build_worker(database).sweep_if_due()
        assert read(client, order).json()["status"] == "expired"
        with database.reading() as session:
            profile = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccids[0])).one()
            assert (profile.status, profile.card_id) == ("available", None)
            stored = session.get(CardOrder, order["id"])
            assert stored is not None
            assert session.get(Card, stored.card_id).status == "lapsed"  # type: ignore[union-attr]
        again = create(client, "third")
        assert again.status_code == 201, again.text  # the released profile sells again
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        assert client.post(checkout, data={"decision": "approve"}).status_code == 409

    def test_a_declined_payment_fails_the_order_and_its_profile_goes_back_to_stock(
        self, database: Database, client: TestClient
    ) -> None:
        iccids = stock(database, 1)
        order = create(client).json()
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        client.post(checkout, data={"decision": "decline"}, follow_redirects=False)
        worker = build_worker(database)
        worker.drain()
        worker.sweep_if_due()
        assert read(client, order).json()["status"] == "failed"
        with database.reading() as session:
            profile = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccids[0])).one()
            assert (profile.status, profile.card_id) == ("available", None)
            stored = session.get(CardOrder, order["id"])
            assert stored is not None
            assert session.get(Card, stored.card_id).status == "lapsed"  # type: ignore[union-attr]
            assert session.scalar(select(func.count()).select_from(Notification)) == 0  # no card, no SMS
        assert create(client, "again").status_code == 201  # the profile sells again


class TestParallelPurchases:
    def test_more_buyers_than_profiles_each_profile_once_the_rest_refused_and_never_charged(
        self, database: Database
    ) -> None:
        iccids = stock(database, 3)
        buyers = 8
        answers: list[StoredResponse | str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(buyers)
        fields = CardOrderCreate(**ORDER).model_dump()

        def buy(index: int) -> None:
            try:
                barrier.wait()
                answers.append(
                    service.place_card_order(
                        database,
                        key=f"buyer-{index}",
                        fingerprint=f"f{index}",
                        render=lambda placed: {"id": placed.id},
                        client=ClientContext(ip=f"198.51.100.{index}", mobile=False),
                        **fields,
                    )
                )
            except service.EsimOutOfStock:
                answers.append("esim_out_of_stock")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(buyers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert (
            sorted(a if isinstance(a, str) else "created" for a in answers)
            == ["created"] * 3 + ["esim_out_of_stock"] * 5
        )
        with database.reading() as session:
            held = session.scalars(select(EsimProfile.card_id).where(EsimProfile.iccid.in_(iccids))).all()
            assert None not in held
            assert len(set(held)) == 3
            assert session.scalar(select(func.count()).select_from(Payment)) == 3
            assert session.scalar(select(func.count()).select_from(CardOrder)) == 3
            cards = session.scalars(select(CardOrder.card_id)).all()
            assert set(cards) == set(held)
