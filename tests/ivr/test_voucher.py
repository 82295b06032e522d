"""Recharge-card PINs by phone and by agent, through voucher.service.redeem (issue 5): a PIN redeemed by
phone leaves the ledger exactly as one redeemed on the web; wrong PINs are counted like on the web."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard import i18n
from roamcard.db import Database
from roamcard.ivr import prompts
from roamcard.ledger import service as ledger
from roamcard.models import AuditEntry, Card, LedgerAccount, LedgerTransfer, TopupOrder
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.factories import make_card
from tests.ivr.conftest import PASSWORD
from tests.ivr.phone import Phone

voucher_generate = pytest.importorskip("roamcard.voucher.service.generate")
voucher_lifecycle = pytest.importorskip("roamcard.voucher.service.lifecycle")


def active_pins(database: Database, count: int, *, face_value: int = 1000) -> list[str]:
    out = io.StringIO()
    spec = voucher_generate.BatchSpec(
        name=f"test-{face_value}-{count}",
        count=count,
        currency="USD",
        expires_on=date(2030, 1, 1),
        face_value=face_value,
    )
    voucher_generate.generate_batch(database, spec, out)
    with database.transaction() as session:
        batch = voucher_lifecycle.get_batch(session, spec.name)
        first, last = voucher_lifecycle.whole_batch(batch)
        from roamcard.voucher.states import RangeAction

        voucher_lifecycle.change_range(session, batch, RangeAction.ACTIVATE, first, last, actor="test")
    return [row["pin"] for row in csv.DictReader(io.StringIO(out.getvalue()))]


def ledger_shape(database: Database, card: Card) -> tuple[int, list[tuple[str, str, str, int, str]]]:
    """The card's balance and its order's transfers, with ids and the card's own id taken out."""
    with database.reading() as session:
        order = session.scalars(select(TopupOrder).where(TopupOrder.card_id == card.id)).one()
        accounts = {
            a.id: a.code.replace(f"card:{card.id}:", "card:*:")
            for a in session.scalars(select(LedgerAccount))
        }
        transfers = sorted(
            (accounts[t.debit_account_id], accounts[t.credit_account_id], t.asset, t.amount, t.reason)
            for t in session.scalars(select(LedgerTransfer).where(LedgerTransfer.reference == order.id))
        )
        balance = ledger.wallet_account(session, card.id, "USD").balance
    return balance, transfers


class TestPinRechargeByPhone:
    def test_same_ledger_state_as_on_the_web(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        with database.transaction() as session:
            web_card = make_card(session, password=PASSWORD, phone="+8613800000001")
        web_pin, phone_pin = active_pins(database, 2)

        token = client.post(
            "/api/v1/sessions", json={"card_number": web_card.card_number, "password": PASSWORD}
        ).json()
        web = client.post(
            "/api/v1/vouchers/redeem",
            json={"pin": web_pin},
            headers={"Authorization": f"Bearer {token['token']}"},
        )
        assert web.status_code == 201, web.text

        phone = Phone(client)
        phone.sign_in(card.card_number, PASSWORD, language="2")
        assert phone.press("2").said == [("en-US", prompts.ENTER_PIN)]
        turn = phone.press(phone_pin)
        assert turn.said == [
            ("en-US", "Your recharge is complete. Your balance is now $10.00."),
            ("en-US", prompts.MENU),
        ]

        assert ledger_shape(database, card) == ledger_shape(database, web_card)
        assert ledger_shape(database, card)[0] == 1000
        with database.reading() as session:
            by_phone = session.scalars(select(TopupOrder).where(TopupOrder.card_id == card.id)).one()
            by_web = session.scalars(select(TopupOrder).where(TopupOrder.card_id == web_card.id)).one()
        assert (by_phone.channel, by_web.channel) == ("ivr", "voucher")
        assert (by_phone.status, by_phone.payment_method, by_phone.grants) == (
            by_web.status,
            by_web.payment_method,
            by_web.grants,
        )

    def test_a_used_pin_a_wrong_pin_and_a_short_pin_are_said_then_goodbye(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        [pin] = active_pins(database, 1)
        phone = Phone(client)
        phone.sign_in(card.card_number, PASSWORD)
        phone.press("2")
        phone.press(pin)
        phone.press("2")
        used = phone.press(pin)
        assert used.said[0] == ("cmn-CN", i18n.gettext("This recharge card has already been used.", "zh-CN"))
        assert used.said[-1] == ("cmn-CN", i18n.gettext(prompts.ENTER_PIN, "zh-CN"))
        short = phone.press("1234")
        assert short.said[0] == ("cmn-CN", i18n.gettext("A recharge PIN has 16 digits.", "zh-CN"))
        wrong = phone.press("0" * 16)
        assert wrong.hangup
        assert wrong.said[-1] == ("cmn-CN", i18n.gettext(prompts.GAVE_UP, "zh-CN"))
        assert ledger_shape(database, card)[0] == 1000

    def test_the_pin_is_stored_nowhere_in_clear(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        [pin] = active_pins(database, 1)
        phone = Phone(client)
        phone.sign_in(card.card_number, PASSWORD)
        phone.press("2")
        phone.press(pin)
        from roamcard.models import Base

        with database.reading() as session:
            dump = " ".join(
                str(value)
                for table in Base.metadata.sorted_tables
                for row in session.execute(table.select())
                for value in row
            )
        assert pin not in dump


class TestPinRechargeByAgent:
    def test_the_agent_redeems_the_pin_the_caller_reads_out(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        [pin] = active_pins(database, 1)
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        token = csrf(client.get("/admin").text)
        response = client.post(
            f"/admin/cards/{card.card_number}/voucher",
            data={"csrf_token": token, "pin": pin, "reason": "caller cannot use the website"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"]).text
        assert pin not in page
        with database.reading() as session:
            order = session.scalars(select(TopupOrder).where(TopupOrder.card_id == card.id)).one()
            entries = list(session.scalars(select(AuditEntry)))
        assert (order.channel, order.status) == ("agent", "fulfilled")
        [entry] = audit_entries(database, "card.voucher_redeemed")
        assert entry.after == {"order_id": order.id, "balance": "$10.00"}
        assert entry.before == {"balance": "$0.00"}
        assert all(pin not in f"{e.before}{e.after}{e.reason}" for e in entries)

    def test_a_wrong_pin_is_a_failed_audited_action(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        active_pins(database, 1)
        sign_in(client, *make_staff(database, "agent"))
        token = csrf(client.get("/admin").text)
        response = client.post(
            f"/admin/cards/{card.card_number}/voucher",
            data={"csrf_token": token, "pin": "0" * 16, "reason": "caller"},
        )
        assert response.status_code == 400
        [entry] = audit_entries(database, "card.voucher_redeemed.failed")
        assert entry.after is not None
        assert "0" * 16 not in str(entry.after)
