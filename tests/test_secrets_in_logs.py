"""Issue 9 item 4: no password or verification code, in any main flow, reaches a log line or a text column.

The flows run end to end with known secrets (card creation by the CLI with its SMS, sign-in, a top-up
through the sandbox, a phone change with its code, a password change, a self-service reset with its code,
a refund), every message is sent by the console provider, and then the captured logs (standard logging
and structlog) and every string column of every table are searched for each secret."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, String, Text, select
from typer.testing import CliRunner

from roamcard.card import settings as card_settings
from roamcard.cli import app as cli
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit import clock
from roamcard.models import Base, Card, Notification
from roamcard.refund import service as refunds
from tests.factories import make_catalog, sms_text
from tests.logs import captured_logs

FIRST_PASSWORD = "73190264"
CHANGED_PASSWORD = "58204717"
RESET_PASSWORD = "90417263"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def _latest(database: Database, template: str) -> str:
    with database.reading() as session:
        sms = session.scalars(
            select(Notification).where(Notification.template == template).order_by(Notification.id.desc())
        ).first()
        assert sms is not None
        return sms_text(sms)


def _drain(database: Database, frozen: clock.FrozenClock) -> None:
    worker = build_worker(database)
    for _ in range(4):
        worker.sweep_if_due()
        worker.drain()
        frozen.advance(minutes=5)
        worker._last_sweep = 0.0


def _text_columns(database: Database) -> list[str]:
    values: list[str] = []
    with database.reading() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                values.extend(
                    json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v for v in row if v
                )
    return values


def test_no_secret_of_the_main_flows_is_logged_or_stored_in_clear(
    database: Database,
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    clock.set_clock(frozen)
    monkeypatch.setattr(get_settings(), "demo_mode", False)  # as in production: secrets go once sent
    # The CLI configures logging when it starts; here the capture below stays in charge.
    monkeypatch.setattr("roamcard.cli.configure_logging", lambda *args, **kwargs: None)
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [FIRST_PASSWORD, CHANGED_PASSWORD, RESET_PASSWORD]

    with captured_logs() as events:
        # A card issued on the command line, its password texted to the phone.
        created = CliRunner().invoke(
            cli, ["cards", "create", "--phone", "+8613812345678", "--password", FIRST_PASSWORD, "--sms"]
        )
        assert created.exit_code == 0, created.output
        card_number = json.loads(created.stdout)["card_number"]
        with database.transaction() as session:
            make_catalog(session)
        _drain(database, frozen)

        # Sign-in and a top-up through the sandbox.
        token = client.post("/api/v1/sessions", json={"card_number": card_number, "password": FIRST_PASSWORD})
        assert token.status_code == 201
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        order = client.post(
            "/api/v1/topups",
            json={"product_id": "balance-10", "currency": "CNY", "payment_method": "sandbox"},
            headers={**auth, "Idempotency-Key": "secrets-1"},
        ).json()
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
        _drain(database, frozen)

        # A phone change proven by its code, then a password change.
        with database.reading() as session:
            card = session.scalars(select(Card).where(Card.card_number == card_number)).one()
        card_settings.start_phone_change(
            database, card, new_phone="+8613987654321", current_password=FIRST_PASSWORD
        )
        code = CODE.findall(_latest(database, "phone_change_code"))[-1]
        secrets.append(code)
        with database.transaction() as session:
            card = session.scalars(select(Card).where(Card.card_number == card_number)).one()
            card_settings.confirm_phone_change(session, card, code=code)
        card_settings.change_password(
            database, card, current_password=FIRST_PASSWORD, new_password=CHANGED_PASSWORD
        )
        _drain(database, frozen)

        # A self-service reset with the code sent to the bound phone.
        assert client.post("/api/v1/password-resets", json={"card_number": card_number}).status_code == 202
        reset_code = CODE.findall(_latest(database, "password_reset_code"))[-1]
        secrets.append(reset_code)
        confirmed = client.post(
            "/api/v1/password-resets/confirm",
            json={"card_number": card_number, "code": reset_code, "new_password": RESET_PASSWORD},
        )
        assert confirmed.status_code == 204
        _drain(database, frozen)

        # A refund, asked and approved.
        with database.transaction() as session:
            card = session.scalars(select(Card).where(Card.card_number == card_number)).one()
            refund = refunds.request_refund(session, card, order["id"], amount=None, reason="changed plans")
            refunds.approve(session, refund.id, staff_ref="staff-1", reason="ok")
        _drain(database, frozen)
        assert (
            client.post(
                "/api/v1/sessions", json={"card_number": card_number, "password": RESET_PASSWORD}
            ).status_code
            == 201
        )

    with database.reading() as session:
        messages = session.scalars(select(Notification)).all()
        assert {m.template for m in messages} >= {
            "card_issued",
            "topup_fulfilled",
            "phone_change_code",
            "phone_changed",
            "password_changed",
            "password_reset_code",
            "password_reset_done",
            "refund_succeeded",
        }
        assert all(m.status == "delivered" for m in messages), [(m.template, m.status) for m in messages]
        assert all(m.secret is None for m in messages)

    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err + repr(events)
    assert any(event["event"] == "sms.console" for event in events)  # the capture saw the sends
    stored = _text_columns(database)
    for secret in secrets:
        token = re.compile(rf"(?<!\d){secret}(?!\d)")
        assert not token.search(logs), f"{secret} is in the logs"
        assert not [value for value in stored if token.search(value)], f"{secret} is stored in clear"
