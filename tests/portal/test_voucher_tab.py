"""The recharge card tab: a PIN bought in a shop, redeemed through the voucher service from the website.
Every refusal is a recorded attempt that survives the failed request; the PIN is never echoed."""

from __future__ import annotations

import logging

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.ledger import service as ledger
from roamcard.models import Card, TopupOrder, VoucherAttempt
from roamcard.voucher.states import RangeAction
from tests.portal.helpers import csrf, field_error, form_error, post_form
from tests.voucher.support import MadeBatch, change, make_batch, pin_of

EN = {"Accept-Language": "en"}
WRONG_PIN = "0000-0000-0000-0000"


@pytest.fixture
def batch(database: Database) -> MadeBatch:
    return make_batch(database, count=4, face_value=1000, currency="USD")


def redeem(client: TestClient, pin: str, **headers: str) -> object:
    return post_form(client, "/recharge/card", "/recharge/card", {"pin": pin}, headers={**EN, **headers})


def attempts(database: Database, card: Card) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(VoucherAttempt.outcome)
                .where(VoucherAttempt.card_id == card.id)
                .order_by(VoucherAttempt.id)
            )
        )


def orders(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(TopupOrder)) or 0)


def wallet(database: Database, card: Card) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card.id, card.currency).balance


class TestTheTab:
    def test_recharge_page_links_to_the_recharge_card_tab(self, signed_in: TestClient) -> None:
        html = signed_in.get("/recharge", headers=EN).text
        assert 'href="/recharge/card"' in html
        assert '<a href="/recharge" aria-current="page" data-testid="tab-pay">Pay online</a>' in html

    def test_the_pin_field_is_numeric_unremembered_and_labelled(self, signed_in: TestClient) -> None:
        html = signed_in.get("/recharge/card", headers=EN).text
        assert '<label for="pin">Recharge PIN</label>' in html
        for attribute in ('inputmode="numeric"', 'autocomplete="off"', 'aria-describedby="pin-hint"'):
            assert attribute in html
        assert "16 digits, not the serial number." in html
        assert csrf(html)
        chinese = signed_in.get("/recharge/card", headers={"Accept-Language": "zh-CN"}).text
        assert "充值密码" in chinese
        assert "充值卡" in chinese


class TestRedeeming:
    def test_a_pin_as_printed_tops_up_the_card_and_goes_to_the_fulfilled_order(
        self, signed_in: TestClient, card: Card, database: Database, batch: MadeBatch
    ) -> None:
        before = wallet(database, card)
        response = redeem(signed_in, pin_of(batch, 0, spaced=True))
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/topups/top_")
        assert pin_of(batch, 0) not in location
        page = signed_in.get(location, headers=EN).text
        assert 'data-testid="status">Completed<' in page
        assert "Done. Your recharge has been added to your card." in page
        assert 'data-testid="new-balance">$10.00<' in page
        assert wallet(database, card) == before + 1000
        with database.reading() as session:
            order = session.scalars(select(TopupOrder)).one()
        assert (order.status, order.channel, order.payment_method) == ("fulfilled", "web", "voucher")
        assert signed_in.get(f"{location}/receipt", headers=EN).status_code == 200
        assert attempts(database, card) == ["redeemed"]

    def test_dashes_work_too(self, signed_in: TestClient, database: Database, batch: MadeBatch) -> None:
        pin = pin_of(batch, 1)
        dashed = "-".join(pin[i : i + 4] for i in range(0, 16, 4))
        assert redeem(signed_in, dashed).status_code == 303
        assert orders(database) == 1


class TestRefusals:
    def test_a_wrong_pin_gets_the_generic_message_next_to_the_field_and_is_recorded(
        self, signed_in: TestClient, card: Card, database: Database, batch: MadeBatch
    ) -> None:
        response = redeem(signed_in, WRONG_PIN)
        assert response.status_code == 400
        assert field_error(response.text, "pin") == "This recharge PIN is not valid. Check it and try again."
        assert 'aria-describedby="pin-hint pin-error" aria-invalid="true"' in response.text
        assert attempts(database, card) == ["wrong_pin"]  # committed although the request failed
        assert orders(database) == 0
        chinese = redeem(signed_in, WRONG_PIN, **{"Accept-Language": "zh-CN"})
        assert field_error(chinese.text, "pin") == "充值密码无效，请核对后重试。"

    def test_a_used_pin_says_so(
        self, signed_in: TestClient, card: Card, database: Database, batch: MadeBatch
    ) -> None:
        assert redeem(signed_in, pin_of(batch, 0)).status_code == 303
        again = redeem(signed_in, pin_of(batch, 0))
        assert again.status_code == 409
        assert field_error(again.text, "pin") == "This recharge card has already been used."
        assert attempts(database, card) == ["redeemed", "already_redeemed"]
        assert orders(database) == 1

    def test_blocked_and_not_yet_activated_cards_say_which(
        self, signed_in: TestClient, database: Database, batch: MadeBatch
    ) -> None:
        change(database, batch, RangeAction.BLOCK, 2, 2)
        blocked = redeem(signed_in, pin_of(batch, 2))
        assert blocked.status_code == 409
        assert (
            field_error(blocked.text, "pin") == "This recharge card has been blocked. Call customer service."
        )
        unsold = make_batch(database, count=1, activate=False)
        inactive = redeem(signed_in, unsold.pin(0))
        assert field_error(inactive.text, "pin") == (
            "This recharge card has not been activated yet. Ask the shop that sold it."
        )
        assert orders(database) == 0

    def test_not_sixteen_digits_is_marked_and_not_counted(
        self, signed_in: TestClient, card: Card, database: Database
    ) -> None:
        short = redeem(signed_in, "1234 5678")
        assert short.status_code == 422
        assert field_error(short.text, "pin") == "A recharge PIN has 16 digits."
        empty = redeem(signed_in, "  ")
        assert field_error(empty.text, "pin") == "Enter the 16-digit recharge PIN."
        assert attempts(database, card) == []

    def test_brute_force_is_stopped_with_retry_after_even_for_a_right_pin(
        self, signed_in: TestClient, card: Card, database: Database, batch: MadeBatch
    ) -> None:
        for _ in range(5):
            assert redeem(signed_in, WRONG_PIN).status_code == 400
        locked = redeem(signed_in, pin_of(batch, 3))
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0
        assert field_error(locked.text, "pin") == "Too many wrong recharge PINs. Try again in 60 minutes."
        assert attempts(database, card) == ["wrong_pin"] * 5 + ["throttled"]
        assert orders(database) == 0

    def test_a_forged_form_changes_nothing(
        self, signed_in: TestClient, card: Card, database: Database, batch: MadeBatch
    ) -> None:
        response = signed_in.post(
            "/recharge/card", data={"pin": pin_of(batch, 0), "csrf_token": "1.forged"}, headers=EN
        )
        assert response.status_code == 403
        assert form_error(response.text)
        assert attempts(database, card) == []
        assert orders(database) == 0

    def test_signed_out_changes_nothing(
        self, client: TestClient, database: Database, batch: MadeBatch
    ) -> None:
        token = csrf(client.get("/", headers=EN).text)
        response = client.post(
            "/recharge/card", data={"pin": pin_of(batch, 0), "csrf_token": token}, headers=EN
        )
        assert response.status_code == 401
        assert orders(database) == 0


class TestThePinStaysSecret:
    def test_never_echoed_in_the_page_the_url_or_the_logs(
        self,
        signed_in: TestClient,
        database: Database,
        batch: MadeBatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        typed = [WRONG_PIN, "1234 5678 9012", pin_of(batch, 0, spaced=True), pin_of(batch, 0)]
        with structlog.testing.capture_logs() as logged:
            pages = [redeem(signed_in, pin) for pin in typed]
        assert [page.status_code for page in pages] == [400, 422, 303, 409]
        everything = "\n".join(
            [page.text + page.headers.get("location", "") for page in pages] + [caplog.text, repr(logged)]
        )
        for pin in typed:
            for form in (pin, pin.replace(" ", "").replace("-", "")):
                assert form not in everything
        assert 'name="pin"' in pages[0].text
        assert 'value=""' in pages[0].text
