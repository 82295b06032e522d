"""The portal's usage page (per day and kind, with what paid for it), the dashboard's alert banner and the
alert switches on the settings page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.ledger.assets import Asset
from roamcard.models import Card, Notification
from tests.charging.helpers import DATA, MIB, VOICE, credit_balance, give_pack, subscriber
from tests.charging.test_alerts import _element, _use
from tests.portal.helpers import field_error, post_form, sign_in

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _signed_in_subscriber(client: TestClient, database: Database) -> tuple[int, str]:
    sub = subscriber(database)
    with database.reading() as session:
        number = session.scalars(select(Card.card_number).where(Card.id == sub.card_id)).one()
    sign_in(client, number)
    return sub.card_id, sub.imsi


class TestUsagePage:
    def test_it_lists_each_day_and_kind_with_what_paid(self, client: TestClient, database: Database) -> None:
        card_id, imsi = _signed_in_subscriber(client, database)
        give_pack(database, card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p")
        credit_balance(database, card_id, 1000, "seed")
        element_id = _element(database)
        _use(database, element_id, imsi, DATA, "totalVolume", 12 * MIB)  # 10 MiB pack, 2 MiB balance
        _use(database, element_id, imsi, VOICE, "time", 70)
        today = clock.now().date().isoformat()

        page = client.get("/usage", headers=EN)
        assert page.status_code == 200
        html = page.text
        assert html.count('data-testid="usage-row"') == 2
        assert 'data-kind="data"' in html
        assert 'data-kind="voice"' in html
        assert f"<strong>{today}</strong> · Data" in html
        assert "10 MB data from pack 1 GB data, 7 days" in html  # the pack's product name
        assert "from the balance ($0.04)" in html  # 2 MiB at 2 cents
        assert "from the balance ($0.50)" in html  # 2 started minutes at 25 cents

        zh = client.get("/usage", headers=ZH).text
        assert "由套餐" in zh
        assert "由余额支付" in zh
        assert "<h1>用量</h1>" in zh

        other_days = client.get("/usage?from=2020-01-01&to=2020-01-05", headers=EN).text
        assert 'data-testid="usage-empty"' in other_days

    def test_a_bad_range_is_shown_next_to_the_field(self, client: TestClient, database: Database) -> None:
        _signed_in_subscriber(client, database)
        page = client.get("/usage?from=2026-12-05&to=2026-12-01", headers=EN)
        assert page.status_code == 422
        assert field_error(page.text, "to") == "The end date is before the start date."
        page = client.get("/usage?from=yesterday", headers=EN)
        assert field_error(page.text, "from") == "Enter a date like 2026-01-31."

    def test_the_dashboard_links_to_it(self, client: TestClient, database: Database) -> None:
        _signed_in_subscriber(client, database)
        assert 'href="/usage"' in client.get("/account", headers=EN).text


class TestDashboardBanner:
    def test_a_pack_at_80_percent_and_a_low_balance_show_until_it_changes(
        self, client: TestClient, database: Database
    ) -> None:
        card_id, imsi = _signed_in_subscriber(client, database)
        give_pack(database, card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p")
        credit_balance(database, card_id, 300, "seed")
        assert 'data-testid="usage-alert"' not in client.get("/account", headers=EN).text
        element_id = _element(database)
        _use(database, element_id, imsi, DATA, "totalVolume", 8 * MIB)
        _use(database, element_id, imsi, VOICE, "time", 300)  # 125 cents: 175 left, below USD 2.00
        html = client.get("/account", headers=EN).text
        assert 'data-kind="pack_used_80"' in html
        assert 'data-kind="low_balance"' in html
        assert "You have used 80% of your 1 GB data, 7 days." in html
        assert "Your balance is low: $1.75." in html
        zh = client.get("/account", headers=ZH).text
        assert "已使用 80%" in zh
        assert "余额不足" in zh
        credit_balance(database, card_id, 1000, "recharge")
        assert 'data-kind="low_balance"' not in client.get("/account", headers=EN).text


class TestAlertSwitches:
    def test_switching_alerts_off_in_settings_stops_them(
        self, client: TestClient, database: Database
    ) -> None:
        card_id, imsi = _signed_in_subscriber(client, database)
        page = client.get("/settings", headers=EN).text
        assert 'id="alert-pack-usage" checked' in page
        response = post_form(client, "/settings", "/settings/alerts", {"low_balance": "on"}, headers=EN)
        assert response.status_code == 303
        assert response.headers["location"] == "/settings?saved=alerts"
        page = client.get("/settings?saved=alerts", headers=EN).text
        assert "Your alert choices are saved." in page
        assert 'id="alert-pack-usage" checked' not in page
        assert 'id="alert-low-balance" checked' in page
        give_pack(database, card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p")
        _use(database, _element(database), imsi, DATA, "totalVolume", 10 * MIB)  # 100 %, and a new country
        with database.reading() as session:
            templates = session.scalars(
                select(Notification.template).where(Notification.card_id == card_id)
            ).all()
        assert "pack_used_100" not in templates
        assert "welcome_country" not in templates
