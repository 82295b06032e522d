"""The portal's emergency page (open without signing in), its SOS button and contacts form, and the
dashboard's network line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import Card, EmergencyContact, Notification, SosAlert
from roamcard.network import service as network_service
from tests.portal.helpers import field_error, form_error, post_form

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _seen(database: Database, card: Card, mcc: str, mnc: str, minutes_ago: float) -> None:
    with database.tx() as tx:
        network_service.seen(tx, card.id, mcc, mnc, clock.now() - timedelta(minutes=minutes_ago))


class TestEmergencyPageWithoutSigningIn:
    def test_it_opens_with_the_consular_hotline_and_a_country_picker(self, client: TestClient) -> None:
        page = client.get("/emergency", headers=ZH)
        assert page.status_code == 200
        assert "+86-10-12308" in page.text
        assert "外交部全球领事保护与服务应急热线" in page.text
        assert '<option value="JP">日本</option>' in page.text
        assert "发送紧急求助</button>" not in page.text  # the SOS button needs a card

    def test_a_chosen_country_lists_its_numbers(self, client: TestClient) -> None:
        page = client.get("/emergency?country=AU", headers=EN).text
        assert 'href="tel:000"' in page
        assert 'href="tel:112"' in page
        assert "Numbers for Australia." in page

    def test_an_operator_can_change_or_hide_the_consular_entry(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "consular_hotline", "+86-10-65612308")
        assert "+86-10-65612308" in client.get("/emergency", headers=EN).text
        monkeypatch.setattr(get_settings(), "consular_hotline", "")
        assert 'data-testid="consular"' not in client.get("/emergency", headers=EN).text

    def test_every_page_links_to_it(self, client: TestClient) -> None:
        assert 'href="/emergency"' in client.get("/", headers=EN).text


class TestSignedIn:
    def test_the_last_country_seen_is_chosen_first(
        self, signed_in: TestClient, database: Database, card: Card
    ) -> None:
        _seen(database, card, "440", "10", 5)
        page = signed_in.get("/emergency", headers=EN).text
        assert '<option value="JP" selected>' in page
        assert 'href="tel:110"' in page
        assert 'href="tel:119"' in page

    def test_contacts_are_saved_from_the_form(
        self, signed_in: TestClient, database: Database, card: Card
    ) -> None:
        data = {
            "holder_name": "Li Lei",
            "name_0": "Mum",
            "phone_0": "+86 139 0013 9000",
            "language_0": "zh-CN",
        }
        response = post_form(signed_in, "/emergency", "/emergency/contacts", data, headers=EN)
        assert (response.status_code, response.headers["location"]) == (303, "/emergency?done=saved#contacts")
        with database.reading() as session:
            (contact,) = session.scalars(select(EmergencyContact).where(EmergencyContact.card_id == card.id))
        assert (contact.name, contact.phone) == ("Mum", "+8613900139000")

    def test_a_bad_phone_is_marked_on_its_field(self, signed_in: TestClient) -> None:
        data = {"name_1": "Sam", "phone_1": "4155550123", "language_1": "en"}
        response = post_form(signed_in, "/emergency", "/emergency/contacts", data, headers=EN)
        assert response.status_code == 422
        assert (
            field_error(response.text, "phone_1")
            == "Enter the phone number with its country code, e.g. +86 138 0013 8000."
        )

    def test_the_sos_button_tells_the_contacts_even_when_suspended(
        self, signed_in: TestClient, database: Database, card: Card
    ) -> None:
        post_form(
            signed_in, "/emergency", "/emergency/contacts", {"name_0": "Mum", "phone_0": "+8613900139000"}
        )
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == card.id).values(status="suspended"))
        response = post_form(signed_in, "/emergency", "/emergency/sos", {}, headers=EN)
        assert (response.status_code, response.headers["location"]) == (303, "/emergency?done=sent")
        with database.reading() as session:
            (alert,) = session.scalars(select(SosAlert))
            sms = session.scalars(select(Notification).where(Notification.template == "sos_alert")).all()
        assert alert.channel == "portal"
        assert [m.phone for m in sms] == ["+8613900139000"]

    def test_sos_without_contacts_says_so(self, signed_in: TestClient) -> None:
        response = post_form(signed_in, "/emergency", "/emergency/sos", {}, headers=EN)
        assert response.status_code == 409
        assert form_error(response.text) == (
            "Add an emergency contact first. In danger, call the local emergency number."
        )


class TestDashboardNetworkLine:
    def test_the_last_network_in_plain_words(
        self, signed_in: TestClient, database: Database, card: Card
    ) -> None:
        _seen(database, card, "310", "260", 5.5)
        assert "On T-Mobile (United States) · 5 min ago" in signed_in.get("/account", headers=EN).text
        assert "已连接 T-Mobile（美国）· 5 分钟前" in signed_in.get("/account", headers=ZH).text

    def test_what_to_check_after_a_quiet_day(
        self, signed_in: TestClient, database: Database, card: Card
    ) -> None:
        _seen(database, card, "310", "260", 25 * 60)
        page = signed_in.get("/account", headers=EN).text
        assert "On T-Mobile (United States) · 1 days ago" in page
        assert "data roaming is on" in page

    def test_nothing_seen_yet(self, signed_in: TestClient) -> None:
        page = signed_in.get("/account", headers=EN).text
        assert "No network seen yet." in page
        assert "this line is selected for mobile data" in page
