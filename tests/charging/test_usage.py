"""`GET /api/v1/card/usage`: per UTC day and kind, with what paid for it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.ledger.assets import Asset
from roamcard.models import Card
from tests.charging.helpers import (
    BASE,
    DATA,
    FR,
    MIB,
    US,
    VOICE,
    ask,
    charging_request,
    credit_balance,
    element_key,
    give_pack,
    subscriber,
)
from tests.factories import DEFAULT_PASSWORD


def _token(client: TestClient, database: Database, card_id: int) -> str:
    with database.reading() as session:
        number = session.scalars(select(Card.card_number).where(Card.id == card_id)).one()
    response = client.post("/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD})
    assert response.status_code == 201
    return str(response.json()["token"])


class TestCardUsage:
    def test_usage_per_day_and_kind_says_which_pack_or_the_balance_paid(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        pack = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        credit_balance(database, sub.card_id, 1000, "seed")
        auth = {"Authorization": f"Bearer {key}"}
        for plmn, units, used in (
            (US, ask(DATA, "totalVolume", 30 * MIB), ask(DATA, "totalVolume", None, used=15 * MIB)),
            (FR, ask(VOICE, "time", 120), ask(VOICE, "time", None, used=70)),
        ):
            created = client.post(
                BASE, json=charging_request(1, imsi=sub.imsi, units=[units], plmn=plmn), headers=auth
            )
            ref = created.headers["Location"].rsplit("/", 1)[1]
            assert (
                client.post(
                    f"{BASE}/{ref}/release", json=charging_request(2, units=[used]), headers=auth
                ).status_code
                == 204
            )
        token = _token(client, database, sub.card_id)
        response = client.get("/api/v1/card/usage", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        days = response.json()["days"]
        assert [(d["kind"], d["units"]) for d in days] == [("data", 15 * MIB), ("voice", 70)]
        data, voice = days[0]["paid_by"], days[1]["paid_by"]
        assert data == [
            {"source": "pack", "units": 10 * MIB, "allowance_id": pack, "product_id": "data-1gb-7d"},
            {"source": "balance", "units": 5 * MIB, "amount": {"amount": 10, "currency": "USD"}},
        ]
        assert voice == [{"source": "balance", "units": 70, "amount": {"amount": 60, "currency": "USD"}}]

    def test_not_signed_in_is_401_and_a_reversed_range_is_422(self, database: Database, client: TestClient):
        assert client.get("/api/v1/card/usage").status_code == 401
        sub = subscriber(database)
        token = _token(client, database, sub.card_id)
        response = client.get(
            "/api/v1/card/usage?from=2026-12-02&to=2026-12-01", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 422


class TestCardViewDuringASession:
    def test_the_balance_shown_leaves_out_what_a_grant_holds(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        created = client.post(
            BASE,
            json=charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 300)], plmn=US),
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201
        token = _token(client, database, sub.card_id)
        card = client.get("/api/v1/card", headers={"Authorization": f"Bearer {token}"}).json()
        assert card["balance"]["amount"] == 1000 - 5 * 25
