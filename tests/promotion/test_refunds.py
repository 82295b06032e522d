"""Refunds of promoted orders, as far as they are built: a discount is not paid back (the money is in
proportion to what was charged); an order given a bonus is not refundable through the API."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from roamcard.db import Database
from tests.promotion.test_topup import PACK, TWENTY, _create, _load, _pay, _verify_clean
from tests.refund.test_refunds import ask


def _refundable(client: TestClient, auth: dict[str, str], order_id: str) -> dict[str, object]:
    return dict(client.get(f"/api/v1/topups/{order_id}/refunds", headers=auth).json()["refundable"])


class TestPromotedRefunds:
    def test_a_discounted_pack_refunds_what_was_charged(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        assert _refundable(client, auth, order["id"]) == {"amount": 8640, "currency": "CNY"}
        _verify_clean(database)

    def test_an_order_given_a_bonus_is_not_refundable_here(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("winter", PACK, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        assert _refundable(client, auth, order["id"])["amount"] == 0
        refused = ask(client, auth, order["id"], "r1")
        assert refused.status_code == 409, refused.text
        _verify_clean(database)
