from __future__ import annotations

from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from tests.factories import DEFAULT_PASSWORD, make_card, make_catalog


def sign_in(client: TestClient, card_number: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/sessions", json={"card_number": card_number, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


class TestSandboxTopupEndToEnd:
    def test_data_pack_paid_in_cny_is_granted_once_and_sms_queued(
        self, database: Database, client: TestClient
    ) -> None:
        with database.transaction() as session:
            make_catalog(session)
            card_number = make_card(session).card_number
        auth = sign_in(client, card_number)

        created = client.post(
            "/api/v1/topups",
            json={"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"},
            headers={**auth, "Idempotency-Key": "first"},
        )
        assert created.status_code == 201, created.text
        order = created.json()
        assert order["status"] == "pending_payment"
        assert order["price"] == {"amount": 10800, "currency": "CNY"}

        checkout_path = order["payment"]["checkout_url"].removeprefix("http://testserver")
        assert "10,800" in client.get(checkout_path).text or "108" in client.get(checkout_path).text
        client.post(checkout_path, data={"decision": "approve"}, follow_redirects=False)
        build_worker(database).drain()

        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json()["status"] == "fulfilled"
        card = client.get("/api/v1/card", headers=auth).json()
        assert [(a["kind"], a["remaining"]) for a in card["allowances"]] == [("data", 5 * 1024**3)]
        messages = client.get("/api/v1/demo/messages", headers=auth).json()
        assert len(messages) == 1
        assert order["id"] in messages[0]["body"]
