"""The back office's eSIM views: the low-stock banner and a card's profiles with their events."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.esim.service import inventory
from tests.backoffice.console import make_staff, sign_in
from tests.factories import make_card, make_esim_profiles


class TestLowStockBanner:
    def test_shown_below_the_threshold_and_not_above(
        self, client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "esim_low_stock", 3)
        sign_in(client, *make_staff(database, "agent"))
        with database.transaction() as session:
            make_esim_profiles(session, 2)
        html = client.get("/admin").text
        assert 'data-testid="esim-low-stock"' in html
        assert "2" in html.split('data-testid="esim-low-stock"')[1].split("</p>")[0]
        with database.transaction() as session:
            make_esim_profiles(session, 1)
        assert 'data-testid="esim-low-stock"' not in client.get("/admin").text


class TestProfileEvents:
    def test_staff_see_the_cards_profile_and_its_events(
        self, client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "smdp_notify_token", SecretStr("t" * 32))
        with database.transaction() as session:
            (iccid,) = make_esim_profiles(session, 1)
            card = make_card(session)
            inventory.allocate(session, card.id)
            number = card.card_number
        body = {
            "iccid": iccid,
            "timestamp": "2026-12-02T10:00:03Z",
            "notificationPointId": 3,
            "notificationPointStatus": {"status": "Executed-Success"},
        }
        headers = {"Authorization": "Bearer " + "t" * 32}
        assert client.post("/webhooks/smdp", content=json.dumps(body), headers=headers).status_code == 204
        sign_in(client, *make_staff(database, "agent"))
        html = client.get(f"/admin/cards/{number}").text
        section = html.split('data-testid="esim-profiles"')[1].split("</section>")[0]
        assert iccid in section
        assert "downloaded" in section
        assert "Executed-Success" in section
        assert "applied" in section
