"""Hotline option 8: an SOS to the card's emergency contacts. From the bound phone the card number is enough;
from any other phone the caller signs in first."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from roamcard.card import service as card_service
from roamcard.db import Database
from roamcard.emergency import service as emergency_service
from roamcard.i18n import gettext
from roamcard.ivr import prompts, speech
from roamcard.kit import clock
from roamcard.models import AuditEntry, Card, IvrCall, Notification, SosAlert
from roamcard.network import emergency as emergency_numbers
from roamcard.network import service as network_service
from tests.ivr.conftest import PASSWORD
from tests.ivr.phone import Phone


def zh(message: str, **params: object) -> str:
    return gettext(message, "zh-CN", **params)


def _contacts(database: Database, card: Card) -> None:
    with database.transaction() as session:
        emergency_service.save(
            session,
            card,
            holder_name="王芳",
            contacts=[
                emergency_service.ContactInput("Mum", "+8613900139000", "zh-CN"),
                emergency_service.ContactInput("Sam", "+14155550188", "en"),
            ],
        )


def _alerts(database: Database) -> list[SosAlert]:
    with database.reading() as session:
        return list(session.scalars(select(SosAlert)))


def _sms_phones(database: Database) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Notification.phone)
                .where(Notification.template == "sos_alert")
                .order_by(Notification.id)
            )
        )


class TestFromTheBoundPhone:
    def test_the_card_number_then_8_sends_the_sos_without_a_password(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        _contacts(database, card)
        phone = Phone(client, caller=card.phone)
        phone.start()
        phone.press("1")
        asked = phone.press(card.card_number)
        assert asked.said == [
            ("cmn-CN", zh(prompts.ENTER_PASSWORD)),
            ("cmn-CN", zh(prompts.SOS_WITHOUT_PASSWORD)),
        ]
        turn = phone.press("8")
        assert ("cmn-CN", zh(prompts.SOS_SENT, number="1 1 2")) in turn.said
        assert turn.hangup
        assert _sms_phones(database) == ["+8613900139000", "+14155550188"]
        (alert,) = _alerts(database)
        assert (alert.card_id, alert.channel) == (card.id, "ivr")
        with database.reading() as session:
            call = session.scalars(select(IvrCall).where(IvrCall.call_sid == phone.call_sid)).one()
            assert (call.outcome, call.card_id) == ("sos", None)  # nobody was signed in
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "emergency.sos")).one()
            assert entry.after is not None
            assert entry.after["channel"] == "ivr"

    def test_a_suspended_card_still_sends_it(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        _contacts(database, card)
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == card.id).values(status="suspended"))
        phone = Phone(client, caller=card.phone)
        phone.start()
        phone.press("1")
        phone.press(card.card_number)
        phone.press("8")
        assert len(_alerts(database)) == 1

    def test_without_contacts_the_caller_hears_the_local_number(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        phone = Phone(client, caller=card.phone)
        phone.start()
        phone.press("1")
        phone.press(card.card_number)
        turn = phone.press("8")
        assert ("cmn-CN", zh(prompts.SOS_NO_CONTACTS, number="1 1 2")) in turn.said
        assert _alerts(database) == []


class TestFromAnotherPhone:
    def test_8_at_the_password_step_asks_for_the_password_and_sends_nothing(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        _contacts(database, card)
        phone = Phone(client, caller="+8613700000000")
        phone.start()
        phone.press("1")
        asked = phone.press(card.card_number)
        assert asked.said == [("cmn-CN", zh(prompts.ENTER_PASSWORD))]  # no hint from another phone
        turn = phone.press("8")
        assert turn.said[0] == ("cmn-CN", zh(prompts.SOS_NEEDS_SIGN_IN))
        assert turn.gather is not None  # still at the password step
        assert _alerts(database) == []
        with database.reading() as session:
            call = session.scalars(select(IvrCall).where(IvrCall.call_sid == phone.call_sid)).one()
            assert (call.step, call.sign_in_failures) == ("password", 0)  # 8 is no wrong password

    def test_after_signing_in_menu_option_8_sends_it(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        _contacts(database, card)
        phone = Phone(client, caller="+8613700000000")
        phone.sign_in(card.card_number, PASSWORD)
        turn = phone.press("8")
        assert turn.said[0] == ("cmn-CN", zh(prompts.SOS_SENT, number="1 1 2"))
        assert turn.said[-1] == ("cmn-CN", zh(prompts.MENU))  # back at the menu
        assert len(_alerts(database)) == 1
        assert len(_sms_phones(database)) == 2

    def test_the_fourth_sos_in_an_hour_is_refused_by_phone_too(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        _contacts(database, card)
        phone = Phone(client, caller="+8613700000000")
        phone.sign_in(card.card_number, PASSWORD)
        for _ in range(3):
            phone.press("8")
        turn = phone.press("8")
        assert turn.said[0] == ("cmn-CN", emergency_service.SosLimitReached(3600).detail("zh-CN"))
        assert len(_alerts(database)) == 3


class TestSuspendedCardFromAnotherPhone:
    """A suspended card keeps all of the emergency service: signing in from another phone reaches the
    emergency options (SOS, the local emergency numbers), nothing else."""

    def _signed_in(self, database: Database, client: TestClient, card: Card) -> Phone:
        _contacts(database, card)
        with database.transaction() as session:
            card_service.suspend(session, session.get(Card, card.id), reason="lost")  # type: ignore[arg-type]
        phone = Phone(client, caller="+8613700000000")
        turn = phone.sign_in(card.card_number, PASSWORD)
        assert turn.said[-1] == ("cmn-CN", zh(prompts.EMERGENCY_MENU))
        return phone

    def test_option_8_sends_the_sos(self, database: Database, client: TestClient, card: Card) -> None:
        phone = self._signed_in(database, client, card)
        turn = phone.press("8")
        assert turn.said == [
            ("cmn-CN", zh(prompts.SOS_SENT, number="1 1 2")),
            ("cmn-CN", zh(prompts.EMERGENCY_MENU)),
        ]
        (alert,) = _alerts(database)
        assert (alert.card_id, alert.channel) == (card.id, "ivr")
        assert _sms_phones(database) == ["+8613900139000", "+14155550188"]

    def test_option_1_says_the_local_emergency_numbers_of_the_last_network(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        phone = self._signed_in(database, client, card)
        with database.tx() as tx:
            network_service.seen(tx, card.id, "440", "10", clock.now())  # Japan: 110, 119, 118
        turn = phone.press("1")
        spoken = ", ".join(speech.digits(entry.number) for entry in emergency_numbers.numbers_for("JP"))
        assert turn.said[0] == ("cmn-CN", zh(prompts.EMERGENCY_NUMBERS, numbers=spoken))
        assert _alerts(database) == []

    def test_recharge_balance_and_links_are_not_offered(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        phone = self._signed_in(database, client, card)
        for key in ("2", "3"):
            turn = phone.press(key)
            assert turn.said[0] == ("cmn-CN", zh(prompts.NOT_AN_OPTION))
        with database.reading() as session:
            call = session.scalars(select(IvrCall).where(IvrCall.call_sid == phone.call_sid)).one()
            assert call.step == "emergency"
        assert _alerts(database) == []
