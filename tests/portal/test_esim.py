"""The portal's eSIM install page and the dashboard's install state."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from roamcard.db import Database
from roamcard.esim.service import inventory
from roamcard.models import EsimProfile
from tests.factories import make_card, make_esim_profiles
from tests.portal.helpers import sign_in

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID = "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@pytest.fixture
def esim_client(client: TestClient, database: Database) -> TestClient:
    with database.transaction() as session:
        make_esim_profiles(session, 1)
        card = make_card(session, language="en")
        inventory.allocate(session, card.id)
        number = card.card_number
    sign_in(client, number)
    return client


class TestTheInstallPage:
    def test_desktop_leads_with_the_qr_and_shows_the_manual_fields(self, esim_client: TestClient) -> None:
        response = esim_client.get("/esim", headers={"User-Agent": DESKTOP})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"
        html = response.text
        assert 'data-testid="esim-qr"' in html
        assert "<svg" in html
        assert "smdp.example.com" in html
        assert "LPA:1$smdp.example.com$RC-" in html
        assert html.index('data-testid="esim-qr"') < html.index('data-testid="esim-manual"')
        assert "为这条线路打开数据漫游。" in html  # the card's language, zh-CN
        assert "保留国内 SIM 卡接打电话" in html

    def test_an_iphone_leads_with_the_one_tap_button(self, esim_client: TestClient) -> None:
        html = esim_client.get("/esim", headers={"User-Agent": IPHONE}).text
        assert 'data-testid="esim-ios"' in html
        assert "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24" in html
        assert html.index('data-testid="esim-ios"') < html.index('data-testid="esim-qr"')

    def test_an_android_phone_leads_with_manual_entry_and_no_ios_button(
        self, esim_client: TestClient
    ) -> None:
        html = esim_client.get("/esim", headers={"User-Agent": ANDROID}).text
        assert 'data-testid="esim-ios"' not in html
        assert "添加 eSIM" in html
        assert html.index('data-testid="esim-manual"') < html.index('data-testid="esim-qr"')

    def test_the_page_needs_signing_in(self, client: TestClient, database: Database) -> None:
        response = client.get("/esim", follow_redirects=False)
        assert response.status_code in (303, 307)


class TestTheDashboard:
    def test_shows_not_installed_with_a_link_and_the_local_number(self, esim_client: TestClient) -> None:
        html = esim_client.get("/account").text
        assert "尚未安装" in html
        assert 'href="/esim"' in html
        assert "+1202555" in html

    def test_shows_active_once_enabled(self, esim_client: TestClient, database: Database) -> None:
        with database.transaction() as session:
            session.execute(update(EsimProfile).values(status="enabled"))
        html = esim_client.get("/account").text
        assert "尚未安装" not in html
        assert 'data-testid="esim-state">使用中' in html
