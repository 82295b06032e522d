"""`roamcard demo` makes one sandbox partner and prints its credentials: a developer at a partner can try
the whole API against `make run` with them, on the demo cards."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.demo import DEMO_CARDS
from roamcard.models import Partner
from tests.partner.support import TOPUPS, MadePartner, Platform
from tests.voucher.support import assert_books_balance

runner = CliRunner()


def credentials(output: str) -> dict[str, str]:
    return dict(re.findall(r"(partner_id|api_key_id|api_secret) (\S+)", output))


class TestDemoPartner:
    def test_the_demo_prints_a_sandbox_partner_that_tops_up_the_demo_cards(
        self, client: TestClient, database: Database
    ) -> None:
        first = runner.invoke(app, ["demo"])
        assert first.exit_code == 0, first.output
        second = runner.invoke(app, ["demo"])
        assert second.exit_code == 0, second.output
        printed = credentials(second.stdout)
        assert set(printed) == {"partner_id", "api_key_id", "api_secret"}
        assert credentials(first.stdout)["partner_id"] == printed["partner_id"]  # one partner, a new key
        with database.reading() as session:
            partner = session.scalars(select(Partner)).one()
            assert partner.mode == "sandbox"
        made = MadePartner(partner.public_id, partner.id, printed["api_key_id"], printed["api_secret"], 0)
        body = {
            "external_id": "try-1",
            "card_number": DEMO_CARDS[1].card_number,
            "product_id": "balance-10",
            "currency": "USD",
        }
        response = Platform(client, made).post(TOPUPS, body)
        assert response.status_code == 201, response.text
        old = MadePartner(
            partner.public_id, partner.id, credentials(first.stdout)["api_key_id"],
            credentials(first.stdout)["api_secret"], 0,
        )  # fmt: skip
        assert Platform(client, old).post(TOPUPS, {**body, "external_id": "try-2"}).status_code == 201
        assert_books_balance(database)
