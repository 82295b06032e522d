"""What each role may do, checked route by route: a forbidden action is a 403 page and changes nothing
(no SMS, no order, no status change, no audit entry for the action)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.models import Card, CardOrder, Notification, PromotionCampaign, Refund, TopupOrder
from tests.backoffice.console import audit_actions, csrf, make_staff, sign_in
from tests.backoffice.test_actions import fulfilled_order
from tests.backoffice.test_esim_actions import act as esim_act
from tests.backoffice.test_esim_actions import bought_card, fail_current, profile_of
from tests.promotion.test_topup import _load

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


# Every permission of staff/roles.py and the roles that hold it, written out (a new permission fails this
# test until it is added here). An admin holds every supervisor right; only finance decides money.
EXPECTED = {
    "view_card": {"agent", "supervisor", "finance", "admin"},
    "send_payment_link": {"agent", "supervisor", "admin"},
    "redeem_voucher": {"agent", "supervisor", "admin"},
    "reset_password": {"agent", "supervisor", "admin"},
    "suspend_card": {"agent", "supervisor", "admin"},
    "unsuspend_card": {"supervisor", "admin"},
    "resend_receipt": {"agent", "supervisor", "finance", "admin"},
    "decide_refund": {"finance"},
    "view_audit": {"supervisor", "admin"},
    "view_payment_issues": {"supervisor", "finance", "admin"},
    "decide_dispute": {"finance"},
    "reissue_esim": {"supervisor", "admin"},
    "cancel_card_order": {"supervisor", "admin"},
    "view_campaigns": {"agent", "supervisor", "finance", "admin"},
    "manage_campaigns": {"supervisor", "admin"},
    "edit_emergency_contacts": {"agent", "supervisor", "admin"},
    "view_jobs": {"supervisor", "admin"},
    "manage_jobs": {"admin"},
    "view_refunds": {"finance", "admin"},
    "manage_staff": {"admin"},
    "view_dealers": {"finance", "admin"},
    "manage_dealers": {"admin"},
    "credit_dealer_float": {"finance"},
}


def _acts(database: Database) -> list[str]:
    return [a for a in audit_actions(database) if a != "card.viewed"]  # the form's page is viewed first


def test_the_role_table_is_exactly_the_expected_one() -> None:
    from roamcard.staff.roles import PERMISSIONS, Permission, Role, can

    assert {p.value for p in Permission} == set(EXPECTED)
    for permission, roles in EXPECTED.items():
        holders = {role.value for role in Role if can(role.value, Permission(permission))}
        assert holders == roles, permission
    supervisor, admin = PERMISSIONS[Role.SUPERVISOR], PERMISSIONS[Role.ADMIN]
    assert supervisor <= admin


@pytest.mark.parametrize("role", ROLES)
class TestCampaignsAndEsimRoutes:
    """The routes of issues 12 and 13, role by role: allowed does the thing, forbidden is a 403 that
    changes nothing and audits nothing."""

    def test_campaigns_are_seen_by_all_and_paused_by_managers(
        self, role: str, client: TestClient, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", '{ kind = "percent_off", percent = 20 }', ""))
        sign_in(client, *make_staff(database, role))
        assert client.get("/admin/campaigns").status_code == 200
        assert client.get("/admin/campaigns/spring").status_code == 200
        assert client.get("/admin/campaigns-preview").status_code == 200
        audit_before = _acts(database)
        status = _post(client, "/admin/campaigns/spring/status", action="pause")
        with database.reading() as session:
            office = session.get(PromotionCampaign, "spring").office_status  # type: ignore[union-attr]
        if role in EXPECTED["manage_campaigns"]:
            assert (status, office) == (303, "paused")
        else:
            assert (status, office) == (403, "active")
            assert _acts(database) == audit_before

    def test_a_profile_in_error_is_reissued_only_by_supervisor_and_admin(
        self, role: str, client: TestClient, database: Database
    ) -> None:
        _order, number = bought_card(client, database, profiles=2)
        fail_current(database, number)
        before = profile_of(database, number).iccid
        sign_in(client, *make_staff(database, role))
        audit_before = _acts(database)
        status = esim_act(client, number, "esim/reissue").status_code
        after = profile_of(database, number)
        if role in EXPECTED["reissue_esim"]:
            assert status == 303
            assert after.iccid != before
            assert after.status == "allocated"
        else:
            assert status == 403
            assert (after.iccid, after.status) == (before, "error")
            assert _acts(database) == audit_before

    def test_an_undelivered_order_is_cancelled_only_by_supervisor_and_admin(
        self, role: str, client: TestClient, database: Database
    ) -> None:
        order, number = bought_card(client, database)
        sign_in(client, *make_staff(database, role))
        audit_before = _acts(database)
        status = esim_act(client, number, "card-order/cancel").status_code
        with database.reading() as session:
            stored = session.get(CardOrder, order["id"])
            refunds = int(session.scalar(select(func.count()).select_from(Refund)) or 0)
        assert stored is not None
        if role in EXPECTED["cancel_card_order"]:
            assert (status, stored.status, refunds) == (303, "cancelled", 1)
        else:
            assert (status, stored.status, refunds) == (403, "fulfilled", 0)
            assert _acts(database) == audit_before
