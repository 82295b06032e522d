"""Chargebacks through Stripe's signed `charge.dispute.*` events (faked as Stripe signs them): recorded
once, the money moved to the disputes account, a top-up hold on the card (not a suspension), the
gateway's decision booked, and finance lifting the hold in the back office (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.ledger import service as ledger
from roamcard.models import Card, Dispute, LedgerTransfer, StateTransition
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.factories import DEFAULT_PASSWORD
from tests.payment.flows import books_balance, drain, order_topup, payment_of, signed_in, statuses, wallet
from tests.payment.gateways import FakeStripe, installed

EN = {"Accept-Language": "en"}


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with installed(FakeStripe()) as fake:
        yield fake


def post(client: TestClient, fake: FakeStripe, body: bytes) -> int:
    return client.post("/webhooks/stripe", content=body, headers=fake.headers(body)).status_code


def paid_card_order(
    database: Database, client: TestClient, fake: FakeStripe
) -> tuple[int, dict[str, str], str, str]:
    card_id, auth = signed_in(database, client)
    order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
    paid = fake.pay(payment_of(database, order_id).id)
    assert post(client, fake, fake.event("checkout.session.completed", paid)) == 200
    drain(database)
    assert statuses(database, order_id) == ("fulfilled", "succeeded")
    return card_id, auth, order_id, paid["payment_intent"]


def balance_of(database: Database, purpose: str) -> int:
    """An operator account's balance from its transfers (debits in, credits out)."""
    with database.reading() as session:
        account = ledger.operator_account(session, purpose, "USD")
        debits = sum(
            t.amount
            for t in session.scalars(
                select(LedgerTransfer).where(LedgerTransfer.debit_account_id == account.id)
            )
        )
        credits = sum(
            t.amount
            for t in session.scalars(
                select(LedgerTransfer).where(LedgerTransfer.credit_account_id == account.id)
            )
        )
        return debits - credits


def the_dispute(database: Database) -> Dispute:
    with database.reading() as session:
        dispute = session.scalars(select(Dispute)).one()
        session.expunge(dispute)
        return dispute


def held_since(database: Database, card_id: int) -> object:
    with database.reading() as session:
        card = session.get(Card, card_id)
        assert card is not None
        return card.topup_held_at


class TestDisputes:
    @pytest.mark.parametrize("outcome", ["won", "lost"])
    def test_opened_then_decided_by_the_gateway_then_the_hold_lifted_by_finance(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, outcome: str
    ) -> None:
        card_id, auth, order_id, intent = paid_card_order(database, client, stripe_api)
        gateway_before = balance_of(database, "gateway:stripe")

        created = stripe_api.event("charge.dispute.created", stripe_api.dispute(intent, amount=1000))
        assert post(client, stripe_api, created) == 200
        assert post(client, stripe_api, created) == 200  # Stripe's retry: recorded once
        withdrawn = stripe_api.event(
            "charge.dispute.funds_withdrawn", stripe_api.dispute(intent, amount=1000)
        )
        assert post(client, stripe_api, withdrawn) == 200
        drain(database)
        dispute = the_dispute(database)
        assert (dispute.status, dispute.amount, dispute.card_id, dispute.order_id) == (
            "open",
            1000,
            card_id,
            order_id,
        )
        assert balance_of(database, "disputes") == 1000
        assert balance_of(database, "gateway:stripe") == gateway_before - 1000
        assert held_since(database, card_id) is not None

        # A hold, not a suspension: the card still signs in and keeps its value; new recharges wait.
        with database.reading() as session:
            card = session.get(Card, card_id)
            assert card is not None
            assert card.status == "active"
            number = card.card_number
        login = client.post("/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD})
        assert login.status_code == 201
        assert wallet(database, card_id) == 1000
        refused = order_topup(client, auth, "card", currency="USD", key="k2")
        assert (refused.status_code, refused.json()["code"]) == (409, "card_topup_held")

        closed = stripe_api.event(
            "charge.dispute.closed", stripe_api.dispute(intent, amount=1000, status=outcome)
        )
        assert post(client, stripe_api, closed) == 200
        drain(database)
        assert the_dispute(database).status == outcome
        assert balance_of(database, "disputes") == 0
        if outcome == "won":
            assert balance_of(database, "gateway:stripe") == gateway_before
        else:
            assert balance_of(database, "dispute_losses") == 1000
        assert held_since(database, card_id) is not None  # until staff decide
        assert books_balance(database)
        with database.reading() as session:
            history = session.scalars(
                select(StateTransition.to_status)
                .where(StateTransition.entity_type == "dispute")
                .order_by(StateTransition.id)
            ).all()
        assert list(history) == ["open", outcome]

        member, secret = make_staff(database, "finance")
        sign_in(client, member, secret)
        page = client.get("/admin/disputes", headers=EN)
        assert dispute.id in page.text
        response = client.post(
            f"/admin/disputes/{dispute.id}/release",
            data={"csrf_token": csrf(page.text), "reason": "spoke to the traveller"},
            headers=EN,
            follow_redirects=False,
        )
        assert response.headers["location"] == "/admin/disputes?done=released"
        assert held_since(database, card_id) is None
        [entry] = audit_entries(database, "dispute.hold_released")
        assert (entry.target_id, entry.card_id, entry.reason) == (
            dispute.id,
            card_id,
            "spoke to the traveller",
        )
        assert order_topup(client, auth, "card", currency="USD", key="k3").status_code == 201
        assert books_balance(database)

    def test_an_agent_cannot_lift_a_hold(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        card_id, _, _, intent = paid_card_order(database, client, stripe_api)
        post(
            client,
            stripe_api,
            stripe_api.event("charge.dispute.created", stripe_api.dispute(intent, amount=500)),
        )
        drain(database)
        dispute = the_dispute(database)
        sign_in(client, *make_staff(database, "agent"))
        assert client.get("/admin/disputes", headers=EN).status_code == 403
        token = csrf(client.get("/admin", headers=EN).text)
        refused = client.post(
            f"/admin/disputes/{dispute.id}/release", data={"csrf_token": token, "reason": "x"}, headers=EN
        )
        assert refused.status_code == 403
        assert held_since(database, card_id) is not None

    def test_an_inquiry_moves_no_money(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        card_id, _, _, intent = paid_card_order(database, client, stripe_api)
        inquiry = stripe_api.dispute(intent, amount=1000, status="warning_needs_response")
        assert post(client, stripe_api, stripe_api.event("charge.dispute.created", inquiry)) == 200
        drain(database)
        with database.reading() as session:
            assert session.scalars(select(Dispute)).all() == []
        assert held_since(database, card_id) is None

    def test_a_dispute_on_a_charge_we_do_not_know_is_refused(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        paid_card_order(database, client, stripe_api)
        stranger = stripe_api.dispute("pi_not_ours", amount=1000)
        assert post(client, stripe_api, stripe_api.event("charge.dispute.created", stranger)) == 404
        assert re.match(r"dp_", stranger["id"])
