"""Each console action does what it says through the existing services, is audited (who, when, what,
before/after, reason) whether it succeeds or fails, and never shows a password or PIN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard import i18n
from roamcard.card import passwords
from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import AuditEntry, Card, CardSession, Notification, Payment, TopupOrder
from roamcard.topup.service.create import create_topup
from tests.backoffice.console import audit_actions, audit_entries, csrf, make_staff, sign_in
from tests.factories import DEFAULT_PASSWORD, sms_text

EN = {"Accept-Language": "en"}


def fulfilled_order(client: TestClient, database: Database, card: Card) -> str:
    """A paid and fulfilled web recharge on `card` (through the sandbox gateway)."""
    with database.transaction() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        order, payment = create_topup(
            session, fresh, product_id="balance-10", currency="USD", payment_method="sandbox"
        )
    assert payment.checkout_url is not None
    client.post(urlsplit(payment.checkout_url).path, data={"decision": "approve"}, follow_redirects=False)
    build_worker(database).drain()
    with database.reading() as session:
        assert session.get(TopupOrder, order.id).status == "fulfilled"  # type: ignore[union-attr]
    return order.id


def _act(client: TestClient, path: str, **fields: str) -> object:
    token = csrf(client.get("/admin", headers=EN).text)
    return client.post(path, data={"csrf_token": token, **fields}, headers=EN, follow_redirects=False)


def _card(database: Database, card: Card) -> Card:
    with database.reading() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        return fresh


class TestFindingACard:
    def test_by_card_number_or_phone(self, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, "agent"))
        spaced = " ".join(card.card_number[i : i + 4] for i in range(0, 20, 4))
        for query in (card.card_number, spaced, "+86 138 1234 5678", "8613812345678"):
            response = client.get("/admin", params={"q": query}, follow_redirects=False)
            assert response.headers["location"] == f"/admin/cards/{card.card_number}", query
        nothing = client.get("/admin", params={"q": "+14155550000"}, headers=EN)
        assert "No card matches" in nothing.text

    def test_the_card_page_shows_status_balance_history_events_and_sms(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        order_id = fulfilled_order(client, database, card)
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        page = client.get(f"/admin/cards/{card.card_number}", headers=EN).text
        assert 'id="card-status" class="status-active">active' in page
        assert '<dd id="balance">$10.00</dd>' in page
        assert order_id in page
        assert "pending_payment → paid" in page
        assert "paid → fulfilled" in page
        with database.reading() as session:
            sms = session.scalars(
                select(Notification).where(Notification.template == "topup_fulfilled")
            ).one()
        assert sms.body in page  # the recharge SMS
        assert f"{sms.status}{' · ' + sms.provider if sms.provider else ''}" in page  # its state and provider
        assert f"#{sms.id}" in page  # the id `roamcard sms resend` takes
        viewed = audit_entries(database, "card.viewed")
        assert [(e.staff_email, e.target_id, e.card_id) for e in viewed] == [
            (member.email, card.card_number, card.id)
        ]


class TestPasswordReset:
    def test_a_new_password_goes_only_to_the_bound_phone(
        self, client: TestClient, database: Database, card: Card, frozen_clock: FrozenClock
    ) -> None:
        for _ in range(5):  # the caller locked the card on the website
            client.post("/api/v1/sessions", json={"card_number": card.card_number, "password": "99999999"})
        token = client.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        )
        assert token.status_code == 429
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)

        response = _act(client, f"/admin/cards/{card.card_number}/password-reset", reason="caller forgot it")
        assert response.headers["location"].endswith("?done=password")  # type: ignore[attr-defined]
        page = client.get(response.headers["location"], headers=EN).text  # type: ignore[attr-defined]
        assert "A new service password was sent by SMS to +86138****5678" in page

        with database.reading() as session:
            sms = session.scalars(select(Notification).where(Notification.template == "password_reset")).one()
        new_password = re.search(r"(\d{8})", sms_text(sms).split(card.card_number[-4:])[-1]).group(1)  # type: ignore[union-attr]
        assert sms.phone == "+8613812345678"
        assert passwords.verify_password(_card(database, card).password_hash, new_password)
        assert not passwords.verify_password(_card(database, card).password_hash, DEFAULT_PASSWORD)
        assert new_password not in page
        assert i18n.gettext("Contains a secret: not shown.", "en") in page

        [entry] = audit_entries(database, "card.password_reset")
        assert (entry.staff_id, entry.reason, entry.before) == (
            member.id,
            "caller forgot it",
            {"locked": True},
        )
        assert entry.after == {"sessions_ended": 0, "sms_to": "+86138****5678", "locked": False}
        assert new_password not in str(entry.after)

        # The lock-out is lifted and the new password signs in.
        signed = client.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": new_password}
        )
        assert signed.status_code == 201

    def test_signed_in_sessions_of_the_card_end(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        token = client.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        ).json()["token"]
        sign_in(client, *make_staff(database, "agent"))
        _act(client, f"/admin/cards/{card.card_number}/password-reset", reason="stolen phone")
        assert client.get("/api/v1/card", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        with database.reading() as session:
            assert all(s.revoked_at for s in session.scalars(select(CardSession)))

    def test_a_reason_is_required(self, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, "agent"))
        response = _act(client, f"/admin/cards/{card.card_number}/password-reset", reason="  ")
        assert response.status_code == 422  # type: ignore[attr-defined]
        assert "Give the reason for this action." in response.text  # type: ignore[attr-defined]
        assert audit_actions(database) == ["staff.sign_in", "card.viewed"]


class TestSuspension:
    def test_agent_suspends_supervisor_lifts(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        agent, agent_secret = make_staff(database, "agent")
        sign_in(client, agent, agent_secret)
        response = _act(client, f"/admin/cards/{card.card_number}/suspend", reason="lost phone")
        assert response.status_code == 303  # type: ignore[attr-defined]
        assert _card(database, card).status == "suspended"
        token = client.post(
            "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
        )
        assert (token.status_code, token.json()["code"]) == (403, "card_suspended")

        again = _act(client, f"/admin/cards/{card.card_number}/suspend", reason="twice")
        assert again.status_code == 409  # type: ignore[attr-defined]

        supervisor = TestClient(client.app)
        sign_in(supervisor, *make_staff(database, "supervisor"))
        _act(supervisor, f"/admin/cards/{card.card_number}/unsuspend", reason="phone found")
        assert _card(database, card).status == "active"

        entries = {
            e.action: e
            for e in audit_entries(database, "card.suspended") + audit_entries(database, "card.unsuspended")
        }
        assert (entries["card.suspended"].before, entries["card.suspended"].after) == (
            {"status": "active"},
            {"status": "suspended"},
        )
        assert (entries["card.unsuspended"].before, entries["card.unsuspended"].after) == (
            {"status": "suspended"},
            {"status": "active"},
        )
        assert entries["card.unsuspended"].reason == "phone found"
        [failed] = audit_entries(database, "card.suspended.failed")
        assert failed.after == {"error": "card_status_unchanged"}


class TestPaymentLinkAndReceipt:
    def test_the_agent_sends_a_payment_link(self, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, "agent"))
        response = _act(
            client,
            f"/admin/cards/{card.card_number}/payment-link",
            product_id="data-5gb-30d",
            reason="asked on the phone",
        )
        assert response.status_code == 303  # type: ignore[attr-defined]
        with database.reading() as session:
            order = session.scalars(select(TopupOrder)).one()
            payment = session.scalars(select(Payment)).one()
            sms = session.scalars(select(Notification).where(Notification.template == "payment_link")).one()
        assert (order.channel, order.product_id) == ("agent", "data-5gb-30d")
        assert "http://testserver/pay/link/lnk_" in sms.body
        assert payment.id not in sms.body
        [entry] = audit_entries(database, "card.payment_link_sent")
        assert entry.after == {"order_id": order.id, "product_id": "data-5gb-30d", "price": "$15.00"}

    def test_an_unknown_product_is_a_failed_audited_action(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        sign_in(client, *make_staff(database, "agent"))
        response = _act(
            client, f"/admin/cards/{card.card_number}/payment-link", product_id="nope", reason="x"
        )
        assert response.status_code == 422  # type: ignore[attr-defined]
        with database.reading() as session:
            assert session.scalars(select(TopupOrder)).all() == []
        [entry] = audit_entries(database, "card.payment_link_sent.failed")
        assert entry.after == {"error": "validation_failed"}

    def test_a_receipt_is_resent_by_sms(self, client: TestClient, database: Database, card: Card) -> None:
        order_id = fulfilled_order(client, database, card)
        sign_in(client, *make_staff(database, "finance"))
        response = _act(
            client, f"/admin/cards/{card.card_number}/orders/{order_id}/receipt", reason="lost it"
        )
        assert response.status_code == 303  # type: ignore[attr-defined]
        with database.reading() as session:
            sms = session.scalars(select(Notification).where(Notification.template == "receipt")).one()
        assert order_id in sms.body
        [entry] = audit_entries(database, "topup.receipt_resent")
        assert (entry.target_type, entry.target_id, entry.card_id) == ("topup", order_id, card.id)

    def test_another_cards_order_has_no_receipt_here(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        from tests.factories import make_card

        with database.transaction() as session:
            other = make_card(session, phone="+8613900000000")
        order_id = fulfilled_order(client, database, other)
        sign_in(client, *make_staff(database, "agent"))
        response = _act(client, f"/admin/cards/{card.card_number}/orders/{order_id}/receipt", reason="x")
        assert response.status_code == 404  # type: ignore[attr-defined]


class TestAuditEntries:
    def test_every_action_is_in_the_log_with_who_when_and_why(
        self, client: TestClient, database: Database, card: Card, frozen_clock: FrozenClock
    ) -> None:
        member, secret = make_staff(database, "supervisor")
        sign_in(client, member, secret)
        path = f"/admin/cards/{card.card_number}"
        _act(client, f"{path}/payment-link", product_id="balance-10", reason="r1")
        _act(client, f"{path}/password-reset", reason="r2")
        _act(client, f"{path}/suspend", reason="r3")
        _act(client, f"{path}/unsuspend", reason="r4")
        with database.reading() as session:
            entries = [e for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)) if e.reason]
        assert [(e.action, e.reason) for e in entries] == [
            ("card.payment_link_sent", "r1"),
            ("card.password_reset", "r2"),
            ("card.suspended", "r3"),
            ("card.unsuspended", "r4"),
        ]
        assert {(e.staff_id, e.staff_email, e.staff_role, e.at) for e in entries} == {
            (member.id, member.email, "supervisor", frozen_clock.current)
        }
        assert all(e.client_ip for e in entries)
