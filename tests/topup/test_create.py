"""The create on the lean path (topup/service/create.py): the answer is built from what it wrote, each row
is written once, and a remote gateway's answer is recorded against what is stored by then. Every test
runs on both engines, so PostgreSQL's one-statement writes (CTEs) and SQLite's statements are both
exercised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.models import (
    Card,
    IdempotencyKey,
    Job,
    Payment,
    SandboxCharge,
    SignedLink,
    StateTransition,
    TopupOrder,
)
from roamcard.payment import providers
from roamcard.payment import service as payment_service
from roamcard.payment.providers.base import (
    Checkout,
    GatewayRejected,
    GatewayUnavailable,
    RemotePayment,
    RemoteStatus,
)
from tests.factories import make_card, make_catalog
from tests.topup.test_api_flow import sign_in

BODY = {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"}
TABLES = (TopupOrder, Payment, StateTransition, SandboxCharge, SignedLink, IdempotencyKey, Job)


@pytest.fixture
def auth(database: Database, client: TestClient) -> dict[str, str]:
    with database.transaction() as session:
        make_catalog(session)
        number = make_card(session).card_number
    return sign_in(client, number)


def create(client: TestClient, auth: dict[str, str], body: dict[str, Any], key: str = "k") -> Any:
    return client.post("/api/v1/topups", json=body, headers={**auth, "Idempotency-Key": key})


def counts(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in TABLES
        }


def history(database: Database, entity_id: str) -> list[tuple[str | None, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(StateTransition.from_status, StateTransition.to_status)
            .where(StateTransition.entity_id == entity_id)
            .order_by(StateTransition.id)
        ).all()
        return [(row[0], row[1]) for row in rows]


class TestSandboxCreate:
    @pytest.mark.parametrize(
        "body",
        [
            BODY,
            {"product_id": "balance-custom", "currency": "USD", "payment_method": "sandbox", "amount": 1234},
        ],
    )
    def test_the_answer_is_what_reading_the_topup_gives(
        self, client: TestClient, auth: dict[str, str], body: dict[str, Any]
    ) -> None:
        created = create(client, auth, body)
        assert created.status_code == 201, created.text
        read = client.get(f"/api/v1/topups/{created.json()['id']}", headers=auth)
        assert read.json() == created.json()

    def test_each_row_is_written_once_with_its_history(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        before = counts(database)
        answer = create(client, auth, BODY).json()
        order_id, payment_id = answer["id"], answer["payment"]["id"]
        with database.reading() as session:
            payment = session.get(Payment, payment_id)
            assert payment is not None
            charge = session.scalars(select(SandboxCharge).where(SandboxCharge.reference == payment_id)).one()
            link = session.scalars(select(SignedLink).where(SignedLink.subject == payment_id)).one()
            key = session.scalars(select(IdempotencyKey)).one()
        # The checkout was opened before the payment row was written: the row has it.
        assert (payment.status, payment.provider_reference) == ("pending", charge.id)
        assert payment.checkout_url == answer["payment"]["checkout_url"]
        assert f"/sandbox/checkout/{link.id}." in payment.checkout_url
        assert (link.purpose, link.used_at) == ("sandbox-decide", None)
        assert history(database, order_id) == [(None, "pending_payment")]
        assert history(database, payment_id) == [(None, "pending")]
        assert history(database, charge.id) == [(None, "open")]
        assert (key.response_status, json.loads(key.response_body)) == (201, answer)
        after = counts(database)
        assert {table: after[table] - before[table] for table in after} == {
            "topup_orders": 1,
            "payments": 1,
            "state_transitions": 3,
            "sandbox_charges": 1,
            "signed_links": 1,
            "idempotency_keys": 1,
            "jobs": 0,
        }

    def test_another_body_under_a_used_key_is_409_and_writes_nothing(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        first = create(client, auth, BODY)
        before = counts(database)
        with database.reading() as session:
            stored = session.scalars(select(IdempotencyKey)).one().response_body
        again = create(client, auth, {**BODY, "product_id": "data-1gb-7d"})
        assert (again.status_code, again.json()["code"]) == (409, "idempotency_key_reused")
        assert counts(database) == before
        with database.reading() as session:
            assert session.scalars(select(IdempotencyKey)).one().response_body == stored
        assert create(client, auth, BODY).json() == first.json()  # the key still answers its own body

    def test_a_suspended_card_is_refused_before_its_key_is_claimed(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        with database.transaction() as session:
            session.scalars(select(Card)).one().status = "suspended"
        refused = create(client, auth, BODY)
        assert (refused.status_code, refused.json()["code"]) == (403, "card_suspended")
        assert counts(database)["idempotency_keys"] == 0


class SilentInProcessGateway:
    """An in-process provider that does not answer the create call."""

    name = "silent"

    def create_checkout(self, db: Any, payment: Any) -> Checkout:
        raise GatewayUnavailable("read timeout")

    def query(self, db: Any, payment: Any) -> RemoteStatus:
        raise GatewayUnavailable("read timeout")

    def close(self, db: Any, payment: Any) -> None:
        pass


def test_an_in_process_provider_that_does_not_answer_leaves_it_unknown(
    database: Database, client: TestClient, auth: dict[str, str]
) -> None:
    providers.register(SilentInProcessGateway())
    created = create(client, auth, {**BODY, "payment_method": "silent"})
    assert created.status_code == 201, created.text
    answer = created.json()
    assert (answer["status"], answer["payment"]["status"]) == ("unknown", "unknown")
    assert client.get(f"/api/v1/topups/{answer['id']}", headers=auth).json() == answer
    assert history(database, answer["payment"]["id"]) == [(None, "pending"), ("pending", "unknown")]
    with database.reading() as session:
        assert session.scalars(select(Job.kind)).all() == ["payment.settle_unknown"]
    assert create(client, auth, {**BODY, "payment_method": "silent"}).json() == answer


@dataclass
class ScriptedGateway:
    """A remote gateway whose create call runs `during` (as if the world moved on while it thought)."""

    database: Database
    refuse: bool = False
    during: Any = None
    name: str = "scripted"
    method: str = "scripted"
    remote: bool = True
    currencies: frozenset[str] = frozenset({"CNY", "USD"})
    calls: list[str] = field(default_factory=list)

    def create_checkout(self, session: None, payment: Any) -> Checkout:
        self.calls.append(payment.id)
        if self.during is not None:
            self.during(payment.id)
        if self.refuse:
            raise GatewayRejected("INVALID_PARAMETER")
        return Checkout(
            checkout_url=f"https://pay.example/{payment.id}", provider_reference=f"sc_{payment.id}"
        )

    def query(self, session: None, payment: Any) -> RemotePayment:
        return RemotePayment(RemoteStatus.PENDING)

    def close(self, session: None, payment: Any) -> None:
        pass


REMOTE = {**BODY, "payment_method": "scripted"}


class TestRemoteGatewayCreate:
    def test_the_checkout_is_recorded_and_answered(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        providers.register(ScriptedGateway(database))
        created = create(client, auth, REMOTE)
        assert created.status_code == 201, created.text
        assert (
            created.json()["payment"]["checkout_url"]
            == f"https://pay.example/{created.json()['payment']['id']}"
        )
        assert client.get(f"/api/v1/topups/{created.json()['id']}", headers=auth).json() == created.json()
        with database.reading() as session:
            payment = session.get(Payment, created.json()["payment"]["id"])
            assert payment is not None
            assert payment.provider_reference == f"sc_{payment.id}"
            assert payment.checkout_sent_at is not None
            # The safety-net job that would open the checkout had the request died before the gateway.
            assert session.scalars(select(Job.kind)).all() == ["payment.open_checkout"]
        assert create(client, auth, REMOTE).json() == created.json()

    def test_a_refused_checkout_fails_the_order_and_frees_the_key(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        gateway = ScriptedGateway(database, refuse=True)
        providers.register(gateway)
        refused = create(client, auth, REMOTE)
        assert (refused.status_code, refused.json()["code"]) == (502, "payment_not_opened")
        with database.reading() as session:
            order = session.scalars(select(TopupOrder)).one()
            payment = session.scalars(select(Payment)).one()
            assert (order.status, payment.status) == ("failed", "failed")
            assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
        assert history(database, payment.id) == [(None, "pending"), ("pending", "failed")]
        assert history(database, order.id) == [(None, "pending_payment"), ("pending_payment", "failed")]
        gateway.refuse = False
        retried = create(client, auth, REMOTE)  # the same key, free again
        assert retried.status_code == 201
        assert retried.json()["id"] != order.id

    def test_a_payment_that_moved_on_meanwhile_is_answered_as_stored(
        self, database: Database, client: TestClient, auth: dict[str, str]
    ) -> None:
        def fail_it(payment_id: str) -> None:
            with database.transaction() as session:
                payment_service.mark_failed(session, payment_id, reason="settled while the gateway thought")

        providers.register(ScriptedGateway(database, during=fail_it))
        created = create(client, auth, REMOTE)
        assert created.status_code == 201
        answer = created.json()
        assert (answer["status"], answer["payment"]["status"], answer["payment"]["checkout_url"]) == (
            "failed",
            "failed",
            None,
        )
        assert client.get(f"/api/v1/topups/{answer['id']}", headers=auth).json() == answer
        with database.reading() as session:
            payment = session.get(Payment, answer["payment"]["id"])
            assert payment is not None
            assert (payment.checkout_url, payment.provider_reference) == (None, None)
            assert payment.checkout_sent_at is not None  # what the gateway was sent is still kept
        assert create(client, auth, REMOTE).json() == answer
