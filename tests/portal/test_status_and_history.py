from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, TopupOrder
from roamcard.topup.states import TopupStatus, topup_machine
from tests.factories import make_card
from tests.portal.helpers import csrf, field_error, hidden, post_form, sign_in

EN = {"Accept-Language": "en"}


def start_recharge(
    client: TestClient, product_id: str = "data-1gb-7d", currency: str = "USD"
) -> tuple[str, str]:
    """Review and confirm; returns (payment id, checkout path)."""
    html = post_form(
        client,
        "/recharge",
        "/recharge/review",
        {"product_id": product_id, "currency": currency, "payment_method": "sandbox"},
    ).text
    fields = {
        n: hidden(html, n) for n in ("product_id", "currency", "payment_method", "amount_minor", "form_id")
    }
    checkout = client.post(
        "/recharge/confirm", data=fields | {"csrf_token": csrf(html)}, follow_redirects=False
    )
    path = checkout.headers["location"].removeprefix("http://testserver")
    return path.rsplit("/", 1)[1], path


def pay(client: TestClient, database: Database, checkout_path: str, decision: str = "approve") -> str:
    back = client.post(checkout_path, data={"decision": decision}, follow_redirects=False)
    build_worker(database).drain()
    return back.headers["location"].removeprefix("http://testserver")


class TestStatusPage:
    def test_waits_for_payment_then_shows_the_new_balance_and_receipt(
        self, signed_in: TestClient, database: Database
    ) -> None:
        _, checkout = start_recharge(signed_in, "balance-10")
        with database.reading() as session:
            order_id = session.scalars(select(TopupOrder.id)).one()
        waiting = signed_in.get(f"/topups/{order_id}", headers=EN).text
        assert "Waiting for payment" in waiting
        assert f'data-poll="/topups/{order_id}/status.json"' in waiting
        assert 'data-testid="refresh"' in waiting  # works without JavaScript
        assert signed_in.get(f"/topups/{order_id}/status.json").json()["final"] is False

        status_path = pay(signed_in, database, checkout)
        assert status_path == f"/topups/{order_id}"
        state = signed_in.get(f"/topups/{order_id}/status.json", headers=EN).json()
        assert state | {"note": ""} == {
            "id": order_id,
            "status": "fulfilled",
            "label": "Completed",
            "note": "",
            "final": True,
            "fulfilled": True,
            "slow": False,
            "balance": "$10.00",
        }
        done = signed_in.get(status_path, headers=EN).text
        assert 'data-testid="new-balance">$10.00<' in done
        assert f"/topups/{order_id}/receipt" in done
        assert "data-poll" not in done

    def test_declined_payment_offers_to_try_again(self, signed_in: TestClient, database: Database) -> None:
        _, checkout = start_recharge(signed_in)
        page = signed_in.get(pay(signed_in, database, checkout, "decline"), headers=EN).text
        assert "Payment failed" in page
        assert "No money was taken" in page
        assert 'href="/recharge"' in page

    def test_says_so_when_it_takes_longer_than_usual(
        self, signed_in: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        start_recharge(signed_in)
        with database.transaction() as session:
            order_id = session.scalars(select(TopupOrder.id)).one()
            topup_machine.transition(
                session, order_id, TopupStatus.PENDING_PAYMENT, TopupStatus.PAID, paid_at=frozen_clock()
            )
        assert signed_in.get(f"/topups/{order_id}/status.json").json()["slow"] is False
        frozen_clock.advance(minutes=2)
        assert signed_in.get(f"/topups/{order_id}/status.json").json()["slow"] is True
        page = signed_in.get(f"/topups/{order_id}", headers=EN).text
        assert "taking longer than usual" in page
        assert order_id in page

    def test_another_cards_order_is_not_found(
        self, client: TestClient, card: object, database: Database
    ) -> None:
        sign_in(client, card.card_number)  # type: ignore[attr-defined]
        start_recharge(client)
        with database.transaction() as session:
            order_id = session.scalars(select(TopupOrder.id)).one()
            other = make_card(session, phone="+14155550100")
        sign_in(client, other.card_number)
        for path in (
            f"/topups/{order_id}",
            f"/topups/{order_id}/status.json",
            f"/topups/{order_id}/receipt.pdf",
        ):
            assert client.get(path).status_code == 404


class TestHistory:
    def test_lists_filters_and_exports(
        self, signed_in: TestClient, card: Card, database: Database, frozen_clock: FrozenClock
    ) -> None:
        _, first = start_recharge(signed_in, "balance-10")
        pay(signed_in, database, first)
        frozen_clock.advance(days=3)
        sign_in(signed_in, card.card_number)  # the first session has ended by now
        start_recharge(signed_in, "data-5gb-30d")  # left unpaid
        everything = signed_in.get("/history", headers=EN).text
        assert everything.count('class="rec-name"') == 2

        done = signed_in.get("/history?status=fulfilled", headers=EN).text
        assert done.count('class="rec-name"') == 1
        assert "$10 balance" in done
        today = (frozen_clock() + timedelta(hours=8)).date().isoformat()  # Asia/Shanghai
        recent = signed_in.get(f"/history?from={today}", headers=EN).text
        assert recent.count('class="rec-name"') == 1
        assert "5 GB data, 30 days" in recent

        exported = signed_in.get("/history.csv?status=fulfilled", headers=EN)
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["Order", "Created", "Product"]
        assert len(rows) == 2
        assert rows[1][2] == "$10 balance"
        assert rows[1][4] == "$10.00"
        assert rows[1][7] == "Completed"

    def test_bad_dates_are_marked_next_to_the_field(self, signed_in: TestClient) -> None:
        response = signed_in.get("/history?from=31/12/2026&status=nonsense", headers=EN)
        assert response.status_code == 422
        assert field_error(response.text, "from") == "Enter a date like 2026-01-31."
        assert field_error(response.text, "status") == "Choose a status from the list."

    def test_chinese_export_is_in_chinese(self, signed_in: TestClient, database: Database) -> None:
        _, checkout = start_recharge(signed_in, "data-1gb-7d", "CNY")
        pay(signed_in, database, checkout)
        text = signed_in.get("/history.csv", headers={"Accept-Language": "zh-CN"}).text
        assert "订单" in text
        assert "1GB 流量包（7 天）" in text
        assert "¥36.00" in text


class TestReceipt:
    def test_printable_page_and_pdf(self, signed_in: TestClient, database: Database) -> None:
        _, checkout = start_recharge(signed_in, "data-1gb-7d", "CNY")
        status_path = pay(signed_in, database, checkout)
        order_id = status_path.rsplit("/", 1)[1]
        page = signed_in.get(f"{status_path}/receipt", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        assert order_id in page.text
        assert "¥36.00" in page.text
        assert "@media print" in signed_in.get("/static/portal.css").text
        pdf = signed_in.get(f"{status_path}/receipt.pdf", headers={"Accept-Language": "zh-CN"})
        assert pdf.headers["content-type"] == "application/pdf"
        assert "attachment" in pdf.headers["content-disposition"]
        text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        assert pdf.content.startswith(b"%PDF")
        assert order_id in text
