from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.kit import clock
from roamcard.kit.clock import FrozenClock
from roamcard.models import InboxEvent, Job, Notification
from roamcard.notification import service
from roamcard.notification.providers import install
from roamcard.notification.providers.twilio import TwilioSmsProvider
from tests.factories import make_card

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-test-auth-token-0123456789ab"
SERVICE_SID = "MG" + "1" * 32
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"


@dataclass
class FakeTwilioApi(HttpClient):
    """The Twilio REST API as the SDK's HTTP client sees it: Basic auth, form bodies, JSON resources."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[str] = field(
        default_factory=list
    )  # "ok", "timeout-after" (taken, no answer), "500", "21211"
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> Response:
        assert auth == (ACCOUNT_SID, AUTH_TOKEN), "Basic auth with the account SID and auth token"
        if method == "POST" and url == f"{API}/Messages.json":
            return self._create(dict(data))
        if method == "GET" and url == f"{API}/Messages.json":
            found = [m for m in self.messages.values() if m["to"] == params.get("To")]
            page = {
                "messages": found,
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "uri": "/2010-04-01/Accounts/x/Messages.json",
                "first_page_uri": None,
                "previous_page_uri": None,
            }
            return Response(200, json.dumps(page))
        if method == "GET" and url.startswith(f"{API}/Messages/"):
            sid = url.rsplit("/", 1)[1].removesuffix(".json")
            if sid not in self.messages:
                return Response(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))
            return Response(200, json.dumps(self.messages[sid]))
        return Response(404, json.dumps({"code": 20404, "message": url, "status": 404}))

    def _create(self, data: dict[str, str]) -> Response:
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "500":
            return Response(
                500, json.dumps({"code": 20500, "message": "Internal Server Error", "status": 500})
            )
        if outcome.isdigit():
            return Response(
                400,
                json.dumps({"code": int(outcome), "message": "The 'To' number is not valid.", "status": 400}),
            )
        assert data.get("MessagingServiceSid") == SERVICE_SID
        assert "StatusCallback" in data
        sid = f"SM{next(self._ids):032d}"
        self.messages[sid] = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": data["To"],
            "body": data["Body"],
            "status": "accepted",
            "error_code": None,
            "messaging_service_sid": SERVICE_SID,
            "date_created": format_datetime(clock.now(), usegmt=True),
            "status_callback": data["StatusCallback"],
        }
        if outcome == "timeout-after":
            raise requests.exceptions.ReadTimeout("read timed out")
        return Response(201, json.dumps(self.messages[sid]))


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilioApi]:
    settings = get_settings()
    for name, value in {
        "sms_routes": "*=twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_messaging_service_sid": SERVICE_SID,
        "public_base_url": "https://roamcard.example.com",
    }.items():
        monkeypatch.setattr(settings, name, value)
    api = FakeTwilioApi()
    install("twilio", TwilioSmsProvider.from_settings(http_client=api))
    return api


def _queue(database: Database, key: str = "msg:1") -> None:
    with database.transaction() as session:
        card = make_card(session, phone="+14155550123", language="en")
        service.queue_sms(session, card, "password_changed", key=key, card_tail="0123")


def _get(database: Database, key: str = "msg:1") -> Notification:
    with database.reading() as session:
        found = session.scalars(select(Notification).where(Notification.key == key)).one()
        session.expunge(found)
        return found


def _callback(
    client: TestClient, message: dict[str, Any], status: str, error: str = "", token: str = AUTH_TOKEN
) -> int:
    url = message["status_callback"]
    params = {
        "MessageSid": message["sid"],
        "MessageStatus": status,
        "AccountSid": ACCOUNT_SID,
        "To": message["to"],
        "ErrorCode": error,
    }
    signature = RequestValidator(token).compute_signature(url, params)
    path = url.removeprefix("https://roamcard.example.com")
    return client.post(
        path,
        content=urlencode(params),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ).status_code


def _inbox(database: Database) -> list[tuple[str, str, dict[str, Any], bool]]:
    with database.reading() as session:
        return [
            (event.source, event.event_id, json.loads(event.body), event.handled_at is not None)
            for event in session.scalars(select(InboxEvent).order_by(InboxEvent.id))
        ]


def _jobs(database: Database, kind: str) -> list[dict[str, Any]]:
    with database.reading() as session:
        return [job.payload for job in session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))]


class TestSend:
    def test_the_message_goes_with_the_messaging_service_and_our_status_callback(
        self, database: Database, twilio: FakeTwilioApi
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert message["to"] == "+14155550123"
        assert message["body"].startswith("[Roamcard] ")
        assert (
            message["status_callback"]
            == "https://roamcard.example.com/webhooks/twilio/sms-status?ref=msg%3A1"
        )
        stored = _get(database)
        assert (stored.status, stored.provider, stored.provider_reference) == (
            "sent",
            "twilio",
            message["sid"],
        )

    def test_an_invalid_number_fails_with_twilios_error_code(
        self, database: Database, twilio: FakeTwilioApi
    ) -> None:
        twilio.script = ["21211"]
        _queue(database)
        Worker(database).drain()
        assert (_get(database).status, _get(database).error_code) == ("failed", "21211")

    def test_a_timeout_after_twilio_took_it_is_settled_by_looking_it_up_not_by_sending_again(
        self, database: Database, twilio: FakeTwilioApi, frozen_clock: FrozenClock
    ) -> None:
        twilio.script = ["timeout-after"]
        _queue(database)
        worker = Worker(database)
        worker.drain()
        assert _get(database).status == "unknown"
        frozen_clock.advance(minutes=3)
        worker.drain()
        [message] = twilio.messages.values()
        stored = _get(database)
        assert (stored.status, stored.provider_reference) == ("sent", message["sid"])

    def test_a_5xx_not_found_afterwards_is_sent_once_more(
        self, database: Database, twilio: FakeTwilioApi, frozen_clock: FrozenClock
    ) -> None:
        twilio.script = ["500"]
        _queue(database)
        worker = Worker(database)
        worker.drain()
        assert _get(database).status == "unknown"
        for _ in range(4):
            frozen_clock.advance(minutes=3)
            worker.drain()
        assert len(twilio.messages) == 1
        assert _get(database).status == "sent"


class TestStatusCallback:
    def test_signed_callbacks_move_the_message_to_delivered(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "sent") == 204
        Worker(database).drain()
        assert _get(database).status == "sent"
        assert _callback(client, message, "delivered") == 204
        Worker(database).drain()
        assert _get(database).status == "delivered"

    def test_undelivered_carries_the_error_code(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "undelivered", "30003") == 204
        Worker(database).drain()
        assert (_get(database).status, _get(database).error_code) == ("failed", "30003")

    def test_a_callback_signed_with_another_token_is_refused_and_changes_nothing(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "delivered", token="someone-else") == 403
        Worker(database).drain()
        assert _get(database).status == "sent"
        assert _inbox(database) == []

    def test_a_callback_without_a_signature_is_refused(self, client: TestClient, database: Database) -> None:
        response = client.post(
            "/webhooks/twilio/sms-status",
            content="MessageSid=SM1&MessageStatus=delivered",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 403


class TestStatusCallbackThroughTheInbox:
    def test_a_signed_callback_is_only_stored_with_a_job_that_applies_it(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "undelivered", "30003") == 204
        event_id = f"{message['sid']}:undelivered:30003"
        [(source, stored_id, body, handled)] = _inbox(database)
        assert (source, stored_id, handled) == ("twilio-sms", event_id, False)
        assert body == {
            "MessageSid": message["sid"],
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "ref": "msg:1",
        }  # no phone number, no account
        assert _jobs(database, "notification.process_event") == [
            {"source": "twilio-sms", "event_id": event_id}
        ]
        assert _get(database).status == "sent"  # nothing applied in the request

        Worker(database).drain()
        assert (_get(database).status, _get(database).error_code) == ("failed", "30003")
        assert _inbox(database)[0][3] is True

    def test_a_duplicate_callback_is_one_event_and_one_job(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "delivered") == 204
        assert _callback(client, message, "delivered") == 204
        assert len(_inbox(database)) == 1
        assert len(_jobs(database, "notification.process_event")) == 1
        Worker(database).drain()
        assert _callback(client, message, "delivered") == 204  # after it was applied too
        assert len(_inbox(database)) == 1
        Worker(database).drain()
        assert _get(database).status == "delivered"

    def test_an_older_status_arriving_late_does_not_move_the_message_back(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "delivered") == 204
        Worker(database).drain()
        assert _callback(client, message, "sent") == 204
        assert _callback(client, message, "undelivered", "30003") == 204
        Worker(database).drain()
        stored = _get(database)
        assert (stored.status, stored.error_code) == ("delivered", None)
        assert [handled for *_, handled in _inbox(database)] == [True, True, True]

    def test_a_bad_signature_writes_nothing(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "delivered", token="someone-else") == 403
        assert _inbox(database) == []
        assert _jobs(database, "notification.process_event") == []

    def test_an_event_whose_job_died_is_redriven_to_the_sms_job(
        self, database: Database, twilio: FakeTwilioApi, client: TestClient, frozen_clock: FrozenClock
    ) -> None:
        from roamcard.jobs.sweepers import redrive_unhandled_notifications

        _queue(database)
        Worker(database).drain()
        [message] = twilio.messages.values()
        assert _callback(client, message, "delivered") == 204
        with database.transaction() as session:
            session.execute(update(Job).where(Job.kind == "notification.process_event").values(status="dead"))
        frozen_clock.advance(minutes=16)
        assert redrive_unhandled_notifications(database) == 1
        assert len(_jobs(database, "notification.process_event")) == 2
        assert _jobs(database, "payment.process_event") == []
        Worker(database).drain()
        assert _get(database).status == "delivered"
        assert _inbox(database)[0][3] is True
        frozen_clock.advance(minutes=16)
        assert redrive_unhandled_notifications(database) == 0
