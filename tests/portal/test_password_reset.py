from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.card import numbers
from roamcard.db import Database
from roamcard.models import Card, Notification
from tests.factories import DEFAULT_PASSWORD, sms_text
from tests.portal.helpers import field_error, form_error, post_form, sign_in

EN = {"Accept-Language": "en"}
NEW_PASSWORD = "61830274"


def _code(database: Database) -> str:
    with database.reading() as session:
        sms = session.scalars(
            select(Notification).where(Notification.template == "password_reset_code")
        ).one()
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", sms_text(sms))
    assert found
    return found.group(1)


class TestForgotPassword:
    def test_the_sign_in_page_links_to_it(self, client: TestClient) -> None:
        assert 'href="/password-reset"' in client.get("/", headers=EN).text
        assert "忘记密码" in client.get("/", headers={"Accept-Language": "zh-CN"}).text

    def test_a_code_and_a_new_password_reset_it_and_sign_in_works_with_it(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        asked = post_form(
            client, "/password-reset", "/password-reset", {"card_number": card.card_number}, headers=EN
        )
        assert asked.status_code == 200
        assert 'data-testid="reset-code-sent"' in asked.text
        confirmed = post_form(
            client,
            "/password-reset",
            "/password-reset/confirm",
            {
                "card_number": card.card_number,
                "code": _code(database),
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "step": "code",
            },
        )
        assert confirmed.status_code == 303
        assert confirmed.headers["location"] == "/?reset=1"
        assert "Your service password has been reset" in (
            form_error(client.get("/?reset=1", headers=EN).text) or ""
        )
        sign_in(client, card.card_number, NEW_PASSWORD)

    def test_an_unknown_card_sees_the_same_next_page(self, client: TestClient, card: Card) -> None:
        unknown = numbers.new_card_number(serial=987_654_321)
        known = post_form(
            client, "/password-reset", "/password-reset", {"card_number": card.card_number}, headers=EN
        )
        other = post_form(client, "/password-reset", "/password-reset", {"card_number": unknown}, headers=EN)
        strip = re.compile(r'value="[^"]*"')
        assert (known.status_code, strip.sub("", known.text)) == (
            other.status_code,
            strip.sub("", other.text),
        )

    def test_a_wrong_code_is_shown_next_to_the_code_and_the_password_stays(
        self, client: TestClient, card: Card, database: Database
    ) -> None:
        post_form(client, "/password-reset", "/password-reset", {"card_number": card.card_number})
        code = _code(database)
        wrong = "000000" if code != "000000" else "111111"
        refused = post_form(
            client,
            "/password-reset",
            "/password-reset/confirm",
            {
                "card_number": card.card_number,
                "code": wrong,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "step": "code",
            },
            headers=EN,
        )
        assert refused.status_code == 422
        assert (
            field_error(refused.text, "code")
            == "The card number or the code is wrong, or the code has expired."
        )
        sign_in(client, card.card_number, DEFAULT_PASSWORD)
