"""The refunds history: finance and admin read every refund (not only those waiting), filtered by state,
date, card and channel; deciding stays with finance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card, Refund, TopupOrder
from roamcard.refund import service as refund_service
from tests.backoffice.console import make_staff, sign_in
from tests.backoffice.test_actions import fulfilled_order
from tests.factories import make_card

ROLES = ("agent", "supervisor", "finance", "admin")
READERS = {"finance", "admin"}
EN = {"Accept-Language": "en"}


def _refund(client: TestClient, database: Database, card: Card, reason: str) -> str:
    order_id = fulfilled_order(client, database, card)
    with database.transaction() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        return refund_service.request_refund(session, fresh, order_id, amount=None, reason=reason).id


def _rows(client: TestClient, query: str = "") -> str:
    response = client.get(f"/admin/refunds/history{query}", headers=EN)
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("role", ROLES)
def test_finance_and_admin_read_the_history_and_only_finance_decides(
    role: str, client: TestClient, database: Database, card: Card
) -> None:
    refund_id = _refund(client, database, card, "did not need it")
    sign_in(client, *make_staff(database, role))
    history = client.get("/admin/refunds/history", headers=EN)
    if role in READERS:
        assert history.status_code == 200
        assert refund_id in history.text
        assert "Waiting for a decision" in history.text
        assert 'href="/admin/refunds/history"' in history.text  # in the menu
    else:
        assert history.status_code == 403
    assert client.get("/admin/refunds").status_code == (200 if role == "finance" else 403)


class TestFilters:
    @pytest.fixture
    def refunds(self, client: TestClient, database: Database, card: Card) -> dict[str, str]:
        with database.transaction() as session:
            other = make_card(session, phone="+8613900001111")
        first = _refund(client, database, card, "first")
        second = _refund(client, database, other, "second")
        with database.transaction() as session:
            old = session.get(Refund, first)
            assert old is not None
            old.created_at = datetime(2026, 1, 5, 10, tzinfo=UTC)
            old.status = "rejected"  # arranged: a decided refund of January, from the web
            web = session.get(TopupOrder, old.order_id)
            assert web is not None
            web.channel = "web"
            newer = session.get(Refund, second)
            assert newer is not None
            newer.created_at = datetime(2026, 3, 1, 10, tzinfo=UTC)
            order = session.get(TopupOrder, newer.order_id)
            assert order is not None
            order.channel = "ivr"
        sign_in(client, *make_staff(database, "admin"))
        return {"first": first, "second": second, "other": other.card_number}

    def test_every_refund_is_listed_not_only_pending_ones(
        self, client: TestClient, refunds: dict[str, str]
    ) -> None:
        page = _rows(client)
        assert page.count('class="refund"') == 2
        assert "Rejected" in page
        assert page.index(refunds["second"]) < page.index(refunds["first"])  # newest first

    def test_by_state(self, client: TestClient, refunds: dict[str, str]) -> None:
        page = _rows(client, "?status=rejected")
        assert page.count('class="refund"') == 1
        assert refunds["first"] in page

    def test_by_date_range(self, client: TestClient, refunds: dict[str, str]) -> None:
        january = _rows(client, "?since=2026-01-01&until=2026-01-31")
        assert january.count('class="refund"') == 1
        assert refunds["first"] in january
        assert _rows(client, "?since=2026-03-01&until=2026-03-01").count('class="refund"') == 1
        assert _rows(client, "?since=2026-04-01").count('class="refund"') == 0

    def test_by_card_number_or_phone(self, client: TestClient, refunds: dict[str, str]) -> None:
        by_number = _rows(client, f"?card={refunds['other']}")
        assert by_number.count('class="refund"') == 1
        assert refunds["second"] in by_number
        by_phone = _rows(client, "?card=%2B8613900001111")
        assert by_phone.count('class="refund"') == 1
        assert _rows(client, "?card=%2B8613700000000").count('class="refund"') == 0

    def test_by_channel_shown_as_a_label(self, client: TestClient, refunds: dict[str, str]) -> None:
        page = _rows(client, "?channel=ivr")
        assert page.count('class="refund"') == 1
        assert refunds["second"] in page
        assert '<td class="nowrap">Hotline</td>' in page
        assert _rows(client, "?channel=web").count('class="refund"') == 1

    def test_pages(
        self, client: TestClient, refunds: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from roamcard.backoffice import refund_history

        monkeypatch.setattr(refund_history, "PAGE_SIZE", 1)
        first = _rows(client)
        assert refunds["second"] in first
        assert "page=2" in first
        second = _rows(client, "?page=2")
        assert refunds["first"] in second
        assert refunds["second"] not in second

    def test_labels_are_localised(self, client: TestClient, refunds: dict[str, str]) -> None:
        page = client.get("/admin/refunds/history", headers={"Accept-Language": "zh-CN"}).text
        assert "退款记录" in page
        assert "客服热线" in page
