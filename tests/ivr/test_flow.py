"""The whole hotline tree through signed webhooks, in both languages: language, card number, service
password, then each menu option; wrong entries, silence and lock-outs shared with the website."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard import i18n
from roamcard.card import numbers
from roamcard.card import service as card_service
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.ivr import prompts
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import Base, Card, IvrCall, Notification, Payment, TopupOrder
from tests.factories import make_card
from tests.ivr.conftest import PASSWORD
from tests.ivr.phone import Phone

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def zh(message: str, **params: object) -> str:
    return i18n.gettext(message, "zh-CN", **params)


def en(message: str, **params: object) -> str:
    return i18n.gettext(message, "en", **params)


def _call(database: Database, phone: Phone) -> IvrCall:
    with database.reading() as session:
        call = session.scalars(select(IvrCall).where(IvrCall.call_sid == phone.call_sid)).one()
        return call


def _top_up(database: Database, card: Card, *, usd_cents: int, data_gb: int = 0, days: int = 30) -> None:
    with database.transaction() as session:
        ledger.transfer(
            session,
            key=f"test:{card.id}:balance",
            debit=ledger.operator_account(session, "issued", "USD"),
            credit=ledger.wallet_account(session, card.id, "USD"),
            amount=usd_cents,
            reason="topup",
        )
        if data_gb:
            ledger.grant_allowance(
                session,
                key=f"test:{card.id}:data",
                card_id=card.id,
                asset=Asset.DATA_BYTES,
                amount=data_gb * 1024**3,
                validity_days=days,
                order_id=None,
                product_id="data-5gb-30d",
            )


class TestLanguageAndSignIn:
    def test_the_welcome_is_said_in_both_languages_each_in_its_own_voice(
        self, phone: Phone, card: Card
    ) -> None:
        turn = phone.start()
        assert turn.said == [
            ("cmn-CN", zh(prompts.WELCOME_CHINESE)),
            ("en-US", en(prompts.WELCOME_ENGLISH)),
        ]
        assert "中文" in turn.said[0][1]
        assert turn.gather is not None
        assert turn.gather["input"] == "dtmf"
        assert turn.gather["numDigits"] == "1"
        assert turn.gather["action"] == get_settings().public_base_url + "/ivr/step/language"
        assert turn.redirect == turn.gather["action"]  # silence comes back to the same step

    def test_chinese_sign_in_reaches_the_menu(self, phone: Phone, card: Card, database: Database) -> None:
        phone.start()
        turn = phone.press("1")
        assert turn.said == [("cmn-CN", zh(prompts.ENTER_CARD_NUMBER))]
        assert turn.gather is not None
        assert turn.gather["finishOnKey"] == "#"
        turn = phone.press(card.card_number)
        assert turn.said == [("cmn-CN", zh(prompts.ENTER_PASSWORD))]
        turn = phone.press(PASSWORD)
        assert turn.said == [("cmn-CN", zh(prompts.MENU))]
        assert "按 1" in turn.text or "按1" in turn.text
        call = _call(database, phone)
        assert (call.step, call.card_id, call.language) == ("menu", card.id, "zh-CN")

    def test_english_sign_in_reaches_the_menu(self, phone: Phone, english_card: Card) -> None:
        turn = phone.sign_in(english_card.card_number, PASSWORD, language="2")
        assert turn.said == [("en-US", prompts.MENU)]

    def test_a_malformed_card_number_is_asked_again_then_goodbye_after_three(
        self, phone: Phone, card: Card, database: Database
    ) -> None:
        phone.start()
        phone.press("2")
        luhn_wrong = card.card_number[:-1] + str((int(card.card_number[-1]) + 1) % 10)
        for _ in range(2):
            turn = phone.press(luhn_wrong)
            assert turn.said[0] == ("en-US", prompts.CARD_NUMBER_INVALID)
            assert turn.said[-1] == ("en-US", prompts.ENTER_CARD_NUMBER)
            assert not turn.hangup
        turn = phone.press("123")
        assert turn.said == [("en-US", prompts.GAVE_UP)]
        assert turn.hangup
        assert turn.gather is None
        assert _call(database, phone).outcome == "gave_up"

    def test_a_wrong_language_key_and_silence_use_tries(self, phone: Phone, card: Card) -> None:
        phone.start()
        turn = phone.press("7")
        assert turn.said[:2] == [("cmn-CN", zh(prompts.NOT_AN_OPTION)), ("en-US", prompts.NOT_AN_OPTION)]
        turn = phone.stay_silent()
        assert turn.said[:2] == [("cmn-CN", zh(prompts.NO_INPUT)), ("en-US", prompts.NO_INPUT)]
        turn = phone.stay_silent()
        assert turn.hangup
        assert turn.said == [("cmn-CN", zh(prompts.GAVE_UP)), ("en-US", prompts.GAVE_UP)]

    def test_silence_at_the_menu_then_a_key_resets_the_tries(self, phone: Phone, card: Card) -> None:
        phone.sign_in(card.card_number, PASSWORD)
        assert phone.stay_silent().said[0] == ("cmn-CN", zh(prompts.NO_INPUT))
        assert phone.stay_silent().said[0] == ("cmn-CN", zh(prompts.NO_INPUT))
        assert phone.press("9").said == [("cmn-CN", zh(prompts.MENU))]  # repeat: a fresh set of tries
        phone.stay_silent()
        turn = phone.stay_silent()
        assert not turn.hangup
        assert phone.stay_silent().hangup

    def test_a_wrong_password_asks_again_from_the_card_number(self, phone: Phone, card: Card) -> None:
        phone.start()
        phone.press("1")
        phone.press(card.card_number)
        turn = phone.press("11111111")
        assert turn.said[0] == ("cmn-CN", zh("The card number or service password is wrong."))
        assert turn.said[-1] == ("cmn-CN", zh(prompts.ENTER_CARD_NUMBER))
        phone.press(card.card_number)
        assert phone.press(PASSWORD).said == [("cmn-CN", zh(prompts.MENU))]

    def test_three_wrong_passwords_end_the_call(self, phone: Phone, card: Card, database: Database) -> None:
        phone.start()
        phone.press("2")
        for _ in range(3):
            phone.press(card.card_number)
            turn = phone.press("11111111")
        assert turn.hangup
        assert turn.said == [
            ("en-US", "The card number or service password is wrong."),
            ("en-US", prompts.GAVE_UP),
        ]
        assert _call(database, phone).card_id is None


class TestLockOutsAreTheWebsites:
    def test_wrong_passwords_by_phone_lock_the_card_on_the_website(
        self, client: TestClient, card: Card, frozen_clock: FrozenClock
    ) -> None:
        first, second = Phone(client), Phone(client, caller="+8613900000000")
        first.start()
        first.press("2")
        for _ in range(3):
            first.press(card.card_number)
            first.press("11111111")
        second.start()
        second.press("2")
        second.press(card.card_number)
        second.press("22222222")
        second.press(card.card_number)
        turn = second.press("33333333")  # the fifth wrong password: locked
        assert turn.hangup
        assert turn.said[0] == ("en-US", "Too many wrong passwords. Try again in 15 minutes.")
        assert turn.said[-1] == ("en-US", prompts.GOODBYE)

        web = client.post("/api/v1/sessions", json={"card_number": card.card_number, "password": PASSWORD})
        assert web.status_code == 429
        assert web.json()["code"] == "login_locked"

    def test_a_card_locked_on_the_website_is_locked_on_the_phone(
        self, client: TestClient, phone: Phone, card: Card, frozen_clock: FrozenClock
    ) -> None:
        for _ in range(5):
            client.post("/api/v1/sessions", json={"card_number": card.card_number, "password": "99999999"})
        turn = phone.sign_in(card.card_number, PASSWORD)  # even the right password
        assert turn.hangup
        assert turn.said[0] == (
            "cmn-CN",
            zh("Too many wrong passwords. Try again in {minutes} minutes.", minutes=15),
        )

        frozen_clock.advance(minutes=16)
        assert Phone(client).sign_in(card.card_number, PASSWORD).said == [("cmn-CN", zh(prompts.MENU))]


class TestMenu:
    def test_balance_and_packs_in_chinese(
        self, phone: Phone, card: Card, database: Database, frozen_clock: FrozenClock
    ) -> None:
        frozen_clock.current = T0
        _top_up(database, card, usd_cents=1250, data_gb=5, days=30)
        phone.sign_in(card.card_number, PASSWORD)
        turn = phone.press("1")
        assert turn.said == [
            ("cmn-CN", "您的余额为12.5美元。"),
            ("cmn-CN", zh(prompts.PACK, amount=zh("{amount} GB data", amount="5"), date="2026年12月25日")),
            ("cmn-CN", zh(prompts.MENU)),
        ]
        assert "2026年12月25日" in turn.text

    def test_balance_and_packs_in_english(
        self, phone: Phone, english_card: Card, database: Database, frozen_clock: FrozenClock
    ) -> None:
        frozen_clock.current = T0
        _top_up(database, english_card, usd_cents=1250, data_gb=5, days=30)
        phone.sign_in(english_card.card_number, PASSWORD, language="2")
        turn = phone.press("1")
        assert turn.said == [
            ("en-US", "Your balance is $12.50."),
            ("en-US", "5 GB data left, valid until December 25, 2026."),
            ("en-US", prompts.MENU),
        ]

    def test_no_packs(self, phone: Phone, english_card: Card) -> None:
        phone.sign_in(english_card.card_number, PASSWORD, language="2")
        turn = phone.press("1")
        assert turn.said[:2] == [("en-US", "Your balance is $0.00."), ("en-US", prompts.NO_PACKS)]

    def test_nine_repeats_and_a_wrong_key_uses_a_try(self, phone: Phone, card: Card) -> None:
        phone.sign_in(card.card_number, PASSWORD, language="2")
        assert phone.press("9").said == [("en-US", prompts.MENU)]
        turn = phone.press("5")
        assert turn.said == [("en-US", prompts.NOT_AN_OPTION), ("en-US", prompts.MENU)]

    def test_zero_transfers_to_the_agent_line(
        self, phone: Phone, card: Card, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "agent_phone", "+18005550100")
        phone.sign_in(card.card_number, PASSWORD)
        turn = phone.press("0")
        assert turn.said == [("cmn-CN", zh(prompts.TRANSFERRING))]
        assert turn.dial == "+18005550100"
        assert _call(database, phone).outcome == "transferred"

    def test_zero_without_an_agent_line_goes_back_to_the_menu(self, phone: Phone, card: Card) -> None:
        phone.sign_in(card.card_number, PASSWORD, language="2")
        turn = phone.press("0")
        assert turn.dial is None
        assert turn.said == [("en-US", prompts.NO_AGENT), ("en-US", prompts.MENU)]


class TestPaymentLinkBySms:
    def test_three_sends_a_payment_link_to_the_bound_phone(
        self, phone: Phone, english_card: Card, database: Database
    ) -> None:
        phone.sign_in(english_card.card_number, PASSWORD, language="2")
        turn = phone.press("3")
        assert turn.said[0] == ("en-US", prompts.CHOOSE_PRODUCT)
        assert ("en-US", "For $10 balance, $10.00, press 1.") in turn.said
        assert turn.said[-1] == ("en-US", prompts.BACK_TO_MENU)

        turn = phone.press("1")
        assert turn.said == [
            (
                "en-US",
                "We have sent a payment link to your phone number ending in 0123. "
                "It is valid for 30 minutes.",
            ),
            ("en-US", prompts.MENU),
        ]
        with database.reading() as session:
            order = session.scalars(select(TopupOrder).where(TopupOrder.card_id == english_card.id)).one()
            payment = session.scalars(select(Payment).where(Payment.order_id == order.id)).one()
            sms = session.scalars(select(Notification).where(Notification.template == "payment_link")).one()
        assert (order.channel, order.product_id, order.status) == ("ivr", "balance-10", "pending_payment")
        assert payment.id not in sms.body  # our own page, not the gateway's
        assert sms.phone == "+14155550123"
        assert re.search(r"http://testserver/pay/link/lnk_[0-9a-z]+\.[0-9a-f]{8}\.[0-9a-f]{32} ", sms.body)
        assert "$10.00" in sms.body

    def test_the_link_is_paid_like_any_other_recharge(
        self, client: TestClient, phone: Phone, card: Card, database: Database
    ) -> None:
        phone.sign_in(card.card_number, PASSWORD)
        phone.press("3")
        phone.press("1")
        with database.reading() as session:
            payment = session.scalars(select(Payment)).one()
            sms = session.scalars(select(Notification).where(Notification.template == "payment_link")).one()
        link = urlsplit(re.findall(r"http://testserver(/pay/link/[0-9a-z_.]+)", sms.body)[0]).path
        opened = client.post(link, follow_redirects=False)  # the traveller taps "continue to payment"
        assert opened.status_code == 303
        checkout = urlsplit(opened.headers["location"]).path
        paid = client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
        assert paid.status_code == 303
        build_worker(database).drain()
        with database.reading() as session:
            order = session.get(TopupOrder, payment.order_id)
            assert order is not None
            assert order.status == "fulfilled"
            assert ledger.wallet_account(session, card.id, "USD").balance == 1000

    def test_star_goes_back_and_a_wrong_key_is_asked_again(
        self, phone: Phone, card: Card, database: Database
    ) -> None:
        phone.sign_in(card.card_number, PASSWORD)
        phone.press("3")
        assert phone.press("9").said[0] == ("cmn-CN", zh(prompts.NOT_AN_OPTION))
        assert phone.press("*").said == [("cmn-CN", zh(prompts.MENU))]
        with database.reading() as session:
            assert session.scalars(select(TopupOrder)).all() == []

    def test_a_card_suspended_during_the_call_is_told_to_speak_to_an_agent(
        self, phone: Phone, card: Card, database: Database
    ) -> None:
        phone.sign_in(card.card_number, PASSWORD)
        with database.transaction() as session:
            card_service.suspend(session, session.get(Card, card.id), reason="lost")  # type: ignore[arg-type]
        assert phone.press("3").said[0] == ("cmn-CN", zh(prompts.CARD_SUSPENDED))
        assert phone.press("2").said[0] == ("cmn-CN", zh(prompts.CARD_SUSPENDED))


class TestSuspendedCards:
    def test_the_right_password_hears_the_websites_message_then_the_emergency_options_or_an_agent(
        self, phone: Phone, card: Card, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "agent_phone", "+18005550100")
        with database.transaction() as session:
            card_service.suspend(session, session.get(Card, card.id), reason="lost")  # type: ignore[arg-type]
        turn = phone.sign_in(card.card_number, PASSWORD)
        assert turn.said == [
            ("cmn-CN", zh("This card is suspended. Call customer service.")),
            ("cmn-CN", zh(prompts.EMERGENCY_MENU)),
        ]
        assert (_call(database, phone).card_id, _call(database, phone).step) == (card.id, "emergency")
        turn = phone.press("0")
        assert turn.said[0] == ("cmn-CN", zh(prompts.TRANSFERRING))
        assert turn.dial == "+18005550100"

    def test_a_wrong_password_is_just_wrong(self, phone: Phone, card: Card, database: Database) -> None:
        with database.transaction() as session:
            card_service.suspend(session, session.get(Card, card.id), reason="lost")  # type: ignore[arg-type]
        turn = phone.sign_in(card.card_number, "11111111")
        assert turn.said[0] == ("cmn-CN", zh("The card number or service password is wrong."))
        assert zh("This card is suspended. Call customer service.") not in turn.text


class TestHotlineLimits:
    def test_the_caller_number_is_no_identity_the_card_and_the_call_are(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        """Wrong passwords under one spoofed `From` number do not lock out another card called from it."""
        with database.transaction() as session:
            other = make_card(session, password=PASSWORD)
        spoofed = "+8613800000001"
        unknown = iter(numbers.new_card_number(serial=500_000_000 + i) for i in range(36))
        for _ in range(12):  # twelve calls of three wrong sign-ins, over 36 numbers, from one "number"
            caller = Phone(client, caller=spoofed)
            caller.start()
            caller.press("1")
            for _ in range(3):
                caller.press(next(unknown))
                caller.press("11111111")
        assert Phone(client, caller=spoofed).sign_in(other.card_number, PASSWORD).said == [
            ("cmn-CN", zh(prompts.MENU))
        ]

    def test_one_call_ends_after_three_wrong_sign_ins(self, phone: Phone, card: Card) -> None:
        phone.start()
        phone.press("1")
        for _ in range(2):
            phone.press(card.card_number)
            phone.press("11111111")
        phone.press(card.card_number)
        assert phone.press("11111111").hangup


class TestCallState:
    def test_any_process_can_take_the_next_step(self, database: Database, card: Card) -> None:
        """Two app instances (two server processes) share nothing but the database."""
        from roamcard.app import create_app

        with (
            TestClient(create_app(database=database)) as one,
            TestClient(create_app(database=database)) as two,
        ):
            first, second = Phone(one), Phone(two)
            first.start()
            first.press("2")
            second.call_sid, second.last = first.call_sid, first.last
            second.press(card.card_number)
            first.last = second.last
            assert first.press(PASSWORD).said == [("en-US", prompts.MENU)]

    def test_a_stale_webhook_is_answered_with_the_current_step(self, phone: Phone, card: Card) -> None:
        phone.start()
        language_step = phone.last
        phone.press("2")
        phone.last = language_step
        turn = phone.press("1")  # Twilio retrying an old request: no change, no try used
        assert turn.said == [("en-US", prompts.ENTER_CARD_NUMBER)]

    def test_a_repeated_start_continues_the_same_call(
        self, phone: Phone, card: Card, database: Database
    ) -> None:
        phone.start()
        phone.press("2")
        assert phone.start().said == [("en-US", prompts.ENTER_CARD_NUMBER)]

    def test_the_status_callback_ends_the_call(self, phone: Phone, card: Card, database: Database) -> None:
        phone.start()
        phone.post(get_settings().public_base_url + "/ivr/status", {"CallStatus": "completed"})
        call = _call(database, phone)
        assert (call.step, call.outcome) == ("ended", "hung_up")
        assert call.ended_at is not None
        assert phone.post(get_settings().public_base_url + "/ivr/step/language", {"Digits": "1"}).hangup


class TestSecrets:
    def test_the_password_typed_is_stored_nowhere(self, phone: Phone, card: Card, database: Database) -> None:
        """After a wrong and a right password, no table holds either in clear (the card keeps its hash)."""
        phone.start()
        phone.press("1")
        phone.press(card.card_number)
        phone.press("58293746")
        phone.press(card.card_number)
        phone.press(PASSWORD)
        phone.press("1")
        with database.reading() as session:
            dump = " ".join(
                str(value)
                for table in Base.metadata.sorted_tables
                for row in session.execute(table.select())
                for value in row
            )
        assert card.card_number in dump  # the dump does hold what was typed that is not secret
        assert PASSWORD not in dump
        assert "58293746" not in dump
