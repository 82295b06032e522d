"""Field messages for invalid requests: an integer field says "a whole number", and only money amounts
talk about minor units."""

from __future__ import annotations

from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.validation import field_message
from tests.factories import make_card
from tests.topup.test_api_flow import sign_in


class TestIntegerFields:
    def test_a_query_limit_that_is_not_a_number_asks_for_a_whole_number(
        self, database: Database, client: TestClient
    ) -> None:
        with database.transaction() as session:
            number = make_card(session).card_number
        response = client.get(
            "/api/v1/topups?limit=abc", headers={**sign_in(client, number), "Accept-Language": "en"}
        )
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "limit", "message": "Enter a whole number."}]

    def test_money_amounts_keep_the_minor_units_explanation(self) -> None:
        for location in (("body", "amount"), ("body", "face_amount"), ("query", "amount_minor")):
            message = field_message({"type": "int_parsing", "loc": location}, "en")
            assert message == "Enter a whole number of minor units (1000 means 10.00)."

    def test_other_integer_fields_do_not_mention_money(self) -> None:
        for location in (("query", "limit"), ("body", "commission_bps"), ("body", "items", 0, "count")):
            assert field_message({"type": "int_type", "loc": location}, "en") == "Enter a whole number."
        assert field_message({"type": "int_type", "loc": ("query", "limit")}, "zh-CN") == "请输入整数。"
