"""Finance decides refunds in the console, through the refunds service (issue 4); each decision is audited."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.ledger import service as ledger
from roamcard.models import Card, Refund
from roamcard.refund import service as refund_service
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.backoffice.test_actions import fulfilled_order

EN = {"Accept-Language": "en"}


def _requested(client: TestClient, database: Database, card: Card) -> Refund:
    order_id = fulfilled_order(client, database, card)
    with database.transaction() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        return refund_service.request_refund(session, fresh, order_id, amount=None, reason="did not need it")


def _decide(client: TestClient, refund_id: str, decision: str, reason: str = "checked the order") -> object:
    token = csrf(client.get("/admin/refunds", headers=EN).text)
    return client.post(
        f"/admin/refunds/{refund_id}/decide",
        data={"csrf_token": token, "decision": decision, "reason": reason},
        headers=EN,
        follow_redirects=False,
    )


def _refund(database: Database, refund_id: str) -> Refund:
    with database.reading() as session:
        refund = session.get(Refund, refund_id)
        assert refund is not None
        return refund


class TestRefundDecisions:
    def test_finance_sees_pending_refunds_and_approves_one(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        refund = _requested(client, database, card)
        member, secret = make_staff(database, "finance")
        sign_in(client, member, secret)
        page = client.get("/admin/refunds", headers=EN).text
        assert refund.id in page
        assert card.card_number in page

        response = _decide(client, refund.id, "approve")
        assert response.headers["location"] == "/admin/refunds?done=approved"  # type: ignore[attr-defined]
        decided = _refund(database, refund.id)
        assert decided.status != "requested"
        assert decided.staff_ref == f"staff:{member.id}:{member.email}"[:64]
        assert decided.decision_reason == "checked the order"
        with database.reading() as session:
            assert ledger.wallet_account(session, card.id, "USD").balance == 0  # the value left the card
        [entry] = audit_entries(database, "refund.approved")
        assert (entry.target_id, entry.card_id, entry.reason) == (refund.id, card.id, "checked the order")
        assert entry.before == {"status": "requested", "amount": 1000, "currency": "USD"}
        assert entry.after == {"status": decided.status}

    def test_finance_rejects_one(self, client: TestClient, database: Database, card: Card) -> None:
        refund = _requested(client, database, card)
        sign_in(client, *make_staff(database, "finance"))
        _decide(client, refund.id, "reject", "used already")
        assert _refund(database, refund.id).status == "rejected"
        with database.reading() as session:
            assert ledger.wallet_account(session, card.id, "USD").balance == 1000
        [entry] = audit_entries(database, "refund.rejected")
        assert entry.after == {"status": "rejected"}

    def test_a_decided_refund_cannot_be_decided_again(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        refund = _requested(client, database, card)
        sign_in(client, *make_staff(database, "finance"))
        _decide(client, refund.id, "reject")
        again = _decide(client, refund.id, "approve")
        assert again.status_code == 409  # type: ignore[attr-defined]
        assert "This refund has already been decided." in again.text  # type: ignore[attr-defined]
        assert _refund(database, refund.id).status == "rejected"
        [failed] = audit_entries(database, "refund.approved.failed")
        assert failed.after == {"error": "refund_not_pending"}

    def test_an_admin_cannot_decide(self, client: TestClient, database: Database, card: Card) -> None:
        refund = _requested(client, database, card)
        sign_in(client, *make_staff(database, "admin"))
        token = csrf(client.get("/admin", headers=EN).text)
        response = client.post(
            f"/admin/refunds/{refund.id}/decide",
            data={"csrf_token": token, "decision": "approve", "reason": "x"},
        )
        assert response.status_code == 403
        assert _refund(database, refund.id).status == "requested"
        with database.reading() as session:
            assert session.scalars(select(Refund)).one().staff_ref is None
