"""The back office's low-stock banner for eSIM profiles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from roamcard.config import get_settings
from roamcard.db import Database
from tests.backoffice.console import make_staff, sign_in
from tests.factories import make_esim_profiles


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
