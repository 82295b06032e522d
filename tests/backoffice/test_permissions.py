"""What each role may do, checked route by route: a forbidden action is a 403 page and changes nothing
(no SMS, no order, no status change, no audit entry for the action)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.models import Card, Notification, TopupOrder
from tests.backoffice.console import audit_actions, csrf, make_staff, sign_in
from tests.backoffice.test_actions import fulfilled_order

ROLES = ("agent", "supervisor", "finance", "admin")

# The table under test, written out here on purpose (not imported from staff/roles.py).
ALLOWED = {
    "view": {"agent", "supervisor", "finance", "admin"},
    "payment-link": {"agent", "supervisor", "admin"},
    "voucher": {"agent", "supervisor", "admin"},
    "password-reset": {"agent", "supervisor", "admin"},
    "suspend": {"agent", "supervisor", "admin"},
    "unsuspend": {"supervisor", "admin"},
    "receipt": {"agent", "supervisor", "finance", "admin"},
    "refund": {"finance"},
    "audit": {"supervisor", "admin"},
}


def _counts(database: Database) -> tuple[int, int, list[str]]:
    with database.reading() as session:
        sms = int(session.scalar(select(func.count()).select_from(Notification)) or 0)
        orders = int(session.scalar(select(func.count()).select_from(TopupOrder)) or 0)
        statuses = list(session.scalars(select(Card.status).order_by(Card.id)))
    return sms, orders, statuses


def _post(client: TestClient, path: str, **fields: str) -> int:
    token = csrf(client.get("/admin").text)
    return client.post(
        path, data={"csrf_token": token, "reason": "caller asked", **fields}, follow_redirects=False
    ).status_code


ACTIONS: dict[str, Callable[[TestClient, Card, str], int]] = {
    "payment-link": lambda c, card, _o: _post(
        c, f"/admin/cards/{card.card_number}/payment-link", product_id="balance-10"
    ),
    "voucher": lambda c, card, _o: _post(
        c, f"/admin/cards/{card.card_number}/voucher", pin="1234567890123456"
    ),
    "password-reset": lambda c, card, _o: _post(c, f"/admin/cards/{card.card_number}/password-reset"),
    "suspend": lambda c, card, _o: _post(c, f"/admin/cards/{card.card_number}/suspend"),
    "unsuspend": lambda c, card, _o: _post(c, f"/admin/cards/{card.card_number}/unsuspend"),
    "receipt": lambda c, card, order: _post(c, f"/admin/cards/{card.card_number}/orders/{order}/receipt"),
    "refund": lambda c, _card, _o: _post(c, "/admin/refunds/ref_x/decide", decision="approve"),
}


@pytest.mark.parametrize("role", ROLES)
class TestRoles:
    def test_viewing(self, role: str, client: TestClient, database: Database, card: Card) -> None:
        sign_in(client, *make_staff(database, role))
        for what, path in (
            ("view", f"/admin/cards/{card.card_number}"),
            ("view", "/admin"),
            ("audit", "/admin/audit"),
            ("refund", "/admin/refunds"),
        ):
            expected = 200 if role in ALLOWED[what] else 403
            assert client.get(path).status_code == expected, (role, path)

    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_actions(
        self, role: str, action: str, client: TestClient, database: Database, card: Card
    ) -> None:
        order_id = fulfilled_order(client, database, card)
        if action == "unsuspend":
            with database.transaction() as session:
                session.get(Card, card.id).status = "suspended"  # type: ignore[union-attr]
        sign_in(client, *make_staff(database, role))
        before, audit_before = _counts(database), audit_actions(database)

        status = ACTIONS[action](client, card, order_id)

        if role in ALLOWED[action]:
            assert status != 403, (role, action)
        else:
            assert status == 403, (role, action)
            assert _counts(database) == before
            assert audit_actions(database) == audit_before
