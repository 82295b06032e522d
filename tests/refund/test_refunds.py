"""Refunds end to end (sandbox gateway): asked through the API, decided by staff through the service the
back office calls; only the unused part, the ledger is reversed first, the books stay balanced; and against
a real gateway (Alipay) for partial refunds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import Notification
from roamcard.payment import providers
from roamcard.payment.providers.base import RefundOutcome, RemoteRefund
from roamcard.refund import service as refunds
from tests.payment.flows import books_balance, count, drain, order_topup, payment_of, signed_in, wallet
from tests.payment.gateways import FORM, FakeAlipay, installed


def paid_with_sandbox(client: TestClient, auth: dict[str, str], database: Database, **kw: Any) -> str:
    order = order_topup(client, auth, "sandbox", key=f"topup-{kw.get('product_id', 'b10')}", **kw).json()
    checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
    client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
    drain(database)
    return str(order["id"])


def ask(client: TestClient, auth: dict[str, str], order_id: str, key: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/topups/{order_id}/refunds",
        json={"reason": "Trip cancelled", **body},
        headers={**auth, "Idempotency-Key": key},
    )


@dataclass(frozen=True)
class Decided:
    """A staff decision's outcome, as the back office's service call gives it (status and body)."""

    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body


def decide(database: Database, refund_id: str, verb: str) -> Decided:
    """Staff decide through the refunds service, as the back office does (tests/backoffice/test_refunds.py
    covers the pages, roles and audit)."""
    action = refunds.approve if verb == "approve" else refunds.reject
    try:
        with database.transaction() as session:
            refund = action(session, refund_id, staff_ref="agent-7", reason="Policy: unused value")
            return Decided(200, {"id": refund.id, "status": refund.status})
    except AppError as error:
        return Decided(error.status_code, {"code": error.code})


class TestBalance:
    def test_partial_then_the_rest_with_the_books_balanced(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        assert wallet(database, card_id) == 1000
        listed = client.get(f"/api/v1/topups/{order_id}/refunds", headers=auth).json()
        assert listed["refundable"] == {"amount": 1000, "currency": "USD"}
        assert listed["partial"] is True

        first = ask(client, auth, order_id, "r1", amount=400)
        assert first.status_code == 201, first.text
        assert ask(client, auth, order_id, "r1", amount=400).json() == first.json()  # idempotent
        assert first.json()["status"] == "requested"
        assert wallet(database, card_id) == 1000  # nothing moves before staff approve

        approved = decide(database, first.json()["id"], "approve")
        assert approved.status_code == 200, approved.text
        assert wallet(database, card_id) == 600  # reversed at approval, before the gateway call
        drain(database)
        assert client.get(f"/api/v1/topups/{order_id}/refunds", headers=auth).json()["data"][0]["status"] == (
            "succeeded"
        )

        rest = ask(client, auth, order_id, "r2")
        assert rest.json()["amount"] == {"amount": 600, "currency": "USD"}
        decide(database, rest.json()["id"], "approve")
        drain(database)
        assert wallet(database, card_id) == 0
        assert ask(client, auth, order_id, "r3").status_code == 409
        assert count(database, Notification, Notification.template == "refund_succeeded") == 2
        assert books_balance(database)

    def test_only_the_unspent_part_and_spending_before_approval_is_caught(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        refund = ask(client, auth, order_id, "r1").json()
        with database.transaction() as session:  # the card holder spends $3 meanwhile
            ledger.transfer(
                session,
                key="usage:test",
                debit=ledger.wallet_account(session, card_id, "USD"),
                credit=ledger.operator_account(session, "usage", "USD"),
                amount=300,
                reason="usage",
            )
        refused = decide(database, refund["id"], "approve")
        assert refused.status_code == 409
        assert refused.json()["code"] == "refund_no_longer_available"
        assert wallet(database, card_id) == 700
        assert decide(database, refund["id"], "reject").json()["status"] == "rejected"
        assert ask(client, auth, order_id, "r2", amount=800).status_code == 422
        assert ask(client, auth, order_id, "r3", amount=700).status_code == 201
        assert count(database, Notification, Notification.template == "refund_rejected") == 1
        assert books_balance(database)


class TestPacks:
    def test_an_unused_pack_is_refunded_whole_and_leaves_the_card(
        self, database: Database, client: TestClient
    ) -> None:
        _card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, product_id="data-1gb-7d", currency="USD")
        assert ask(client, auth, order_id, "r0", amount=100).status_code == 422  # packs: whole only
        refund = ask(client, auth, order_id, "r1").json()
        assert refund["amount"] == {"amount": 500, "currency": "USD"}
        decide(database, refund["id"], "approve")
        drain(database)
        card = client.get("/api/v1/card", headers=auth).json()
        assert card["allowances"] == []
        assert books_balance(database)

    def test_a_used_pack_is_not_refundable(self, database: Database, client: TestClient) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, product_id="data-1gb-7d", currency="USD")
        with database.transaction() as session:
            ledger.consume_allowances(
                session, key="use:1", card_id=card_id, asset=Asset.DATA_BYTES, quantity=1
            )
        assert ask(client, auth, order_id, "r1").status_code == 409


class TestGatewayFailure:
    def test_a_refused_refund_gives_the_value_back(
        self, database: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        refund = ask(client, auth, order_id, "r1", amount=500).json()
        sandbox = providers.get_provider("sandbox")
        monkeypatch.setattr(
            sandbox, "refund", lambda session, request: RemoteRefund(RefundOutcome.FAILED, detail="closed")
        )
        decide(database, refund["id"], "approve")
        assert wallet(database, card_id) == 500
        drain(database)
        assert wallet(database, card_id) == 1000
        assert (
            client.get(f"/api/v1/topups/{order_id}/refunds", headers=auth).json()["data"][0]["status"]
            == "failed"
        )
        assert books_balance(database)


class TestStaffDecideOnlyInTheBackOffice:
    def test_the_shared_token_api_is_gone(self, database: Database, client: TestClient) -> None:
        _, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        refund = ask(client, auth, order_id, "r1").json()
        body = {"staff_ref": "x", "reason": "y"}
        assert client.get("/api/v1/staff/refunds").status_code == 404
        for verb in ("approve", "reject"):
            assert client.post(f"/api/v1/staff/refunds/{refund['id']}/{verb}", json=body).status_code == 404
        assert "refunds_staff_token" not in type(get_settings()).model_fields
        paths = client.get("/openapi.json").json()["paths"]
        assert not any(path.startswith("/api/v1/staff") for path in paths)


class TestServiceForTheBackOffice:
    def test_service_functions_for_the_back_office(self, database: Database, client: TestClient) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        refund_id = ask(client, auth, order_id, "r1", amount=250).json()["id"]
        with database.transaction() as session:
            approved = refunds.approve(session, refund_id, staff_ref="staff:42", reason="ok")
            assert (approved.status, approved.staff_ref) == ("approved", "staff:42")
        drain(database)
        assert wallet(database, card_id) == 750


@pytest.fixture
def alipay() -> Iterator[FakeAlipay]:
    with installed(FakeAlipay()) as fake:
        yield fake


class TestAlipayPartialRefunds:
    def test_two_partial_refunds_use_two_out_request_nos(
        self, database: Database, client: TestClient, alipay: FakeAlipay
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = order_topup(client, auth, "alipay").json()["id"]
        payment = payment_of(database, order_id)
        alipay.pay(payment.id)
        client.post("/webhooks/alipay", content=alipay.notification(payment), headers=FORM)
        drain(database)
        assert wallet(database, card_id) == 1000
        first = ask(client, auth, order_id, "r1", amount=3600).json()  # ¥36.00 of ¥72.00
        decide(database, first["id"], "approve")
        drain(database)
        second = ask(client, auth, order_id, "r2").json()
        assert second["amount"] == {"amount": 3600, "currency": "CNY"}
        decide(database, second["id"], "approve")
        drain(database)
        assert alipay.refunds == {first["id"]: "36.00", second["id"]: "36.00"}
        assert wallet(database, card_id) == 0
        assert books_balance(database)
