"""A partner's API secret is shown once and then never logged nor stored in clear (through creation,
rotation, signed requests good and bad, and callbacks); a partner top-up runs on the lean path (no ORM
statement)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import Card, Partner, PartnerCallback
from roamcard.partner.service import callbacks
from tests.logs import captured_logs
from tests.partner.support import TOPUPS, MadePartner, Platform, make_cards, make_partner, topup_body
from tests.test_secrets_in_logs import _text_columns

runner = CliRunner()


def cli(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_api_secret_is_never_logged_nor_stored_in_clear(
    client: TestClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    card: Card = make_cards(database, sandbox=True)
    with captured_logs() as events:
        made = cli(
            "partners",
            "create",
            "--name",
            "P",
            "--currency",
            "USD",
            "--callback-url",
            "http://127.0.0.1:9/cb",
        )
        rotated = cli("partners", "rotate-key", made["partner_id"])
        runner.invoke(app, ["partners", "credit", made["partner_id"], "--amount", "50000"])
        with database.reading() as session:
            row = session.query(Partner).one()
            partner = MadePartner(row.public_id, row.id, rotated["api_key_id"], rotated["api_secret"], 0)
        platform = Platform(client, partner)
        assert platform.post(TOPUPS, topup_body(card)).status_code == 201
        assert (
            Platform(client, partner, secret="rcs_wrong").post(TOPUPS, topup_body(card, "x")).status_code
            == 401
        )
        with database.reading() as session:
            callback = session.query(PartnerCallback).one()
        callbacks.deliver(database, callback.id)  # connection refused: recorded, retried later
    logged = json.dumps([dict(e) for e in events], default=str) + caplog.text
    stored = "\n".join(_text_columns(database))
    for secret in (made["api_secret"], rotated["api_secret"]):
        assert secret not in logged
        assert secret not in stored
    assert made["api_key_id"] in stored  # the key id is not a secret


def test_a_partner_top_up_sends_no_orm_statement(client: TestClient, database: Database) -> None:
    card = make_cards(database)
    partner = make_partner(database)
    platform = Platform(client, partner)
    assert platform.post(TOPUPS, topup_body(card, "warm-up")).status_code == 201  # operator accounts known
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(str(args[2])))
    assert platform.post(TOPUPS, topup_body(card, "lean")).status_code == 201
    assert seen == []
