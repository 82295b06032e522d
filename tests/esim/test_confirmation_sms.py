"""The confirmation code (profiles with confirmation_code_required) reaches the buyer in an SMS of its own,
never in the QR or the activation code, and is never logged or stored in clear (issue 13)."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, String, Text, select, update

from roamcard.db import Database
from roamcard.esim import confirmation
from roamcard.jobs.sweepers import build_worker
from roamcard.models import Base, EsimProfile, Notification
from roamcard.notification.providers.base import OutgoingSms
from roamcard.notification.providers.console import ConsoleProvider
from tests.card_order.test_card_orders import create, read, stock
from tests.logs import captured_logs

CODE = "739104"


def _needs_code(database: Database, iccid: str) -> None:
    with database.transaction() as session:
        session.execute(
            update(EsimProfile)
            .where(EsimProfile.iccid == iccid)
            .values(confirmation_code_required=True, confirmation_code=confirmation.seal(iccid, CODE))
        )


def _text_columns(database: Database) -> list[str]:
    values: list[str] = []
    with database.reading() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for row in session.execute(select(*columns)) if columns else []:
                values.extend(json.dumps(v) if not isinstance(v, str) else v for v in row if v)
    return values


def test_the_code_comes_in_an_sms_of_its_own_and_nowhere_else(
    database: Database,
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    (iccid,) = stock(database, 1)
    _needs_code(database, iccid)
    with captured_logs() as events:
        order = create(client).json()
        checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
        client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
        worker = build_worker(database)
        worker.drain()
        with database.reading() as session:
            messages = session.scalars(select(Notification).order_by(Notification.id)).all()
            by_template = {m.template: m for m in messages}
            assert set(by_template) >= {"card_ready_msisdn", "card_issued", "esim_confirmation_code"}
            own = by_template["esim_confirmation_code"]
            assert CODE not in own.body  # the stored body is masked
            for other in messages:
                if other.template != "esim_confirmation_code":
                    assert CODE not in (other.body or "")
        done = read(client, order).json()
        password = done["password"]
        signed = client.post("/api/v1/sessions", json={"card_number": iccid, "password": password})
        esim = client.get("/api/v1/card/esim", headers={"Authorization": f"Bearer {signed.json()['token']}"})
        assert esim.status_code == 200
        assert esim.json()["confirmation_code_required"] is True
        assert CODE not in esim.text  # not in the activation code, the QR text or the iOS link
        assert CODE not in done.__repr__()
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err + repr(events)
    assert CODE not in logs
    assert not any(CODE in value for value in _text_columns(database))  # sent, then deleted; never clear


def test_the_phone_gets_the_code_in_its_own_message(
    database: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[OutgoingSms] = []
    original = ConsoleProvider.send

    def record(self: ConsoleProvider, message: OutgoingSms) -> str:
        sent.append(message)
        return original(self, message)

    monkeypatch.setattr(ConsoleProvider, "send", record)
    (iccid,) = stock(database, 1)
    _needs_code(database, iccid)
    order = create(client).json()
    checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
    client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
    build_worker(database).drain()
    with_code = [m for m in sent if CODE in m.text]
    assert [m.template for m in with_code] == ["esim_confirmation_code"]
    assert iccid[-4:] in with_code[0].text
    assert CODE not in with_code[0].masked_text
    assert with_code[0].carries_secret


def test_a_profile_without_a_code_sends_none(database: Database, client: TestClient) -> None:
    stock(database, 1)
    order = create(client).json()
    checkout = order["payment"]["checkout_url"].removeprefix("http://testserver")
    client.post(checkout, data={"decision": "approve"}, follow_redirects=False)
    build_worker(database).drain()
    with database.reading() as session:
        templates = session.scalars(select(Notification.template)).all()
    assert "esim_confirmation_code" not in templates
