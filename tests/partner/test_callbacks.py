"""Callbacks: a final top-up is POSTed to the partner's callback URL, signed like a partner request, through
the outbox; anything but a 2xx (no answer included) is retried with backoff for 24 hours, then dead; every
attempt is recorded; staff may replay a dead one. In live mode, only public https URLs (SSRF)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import PartnerCallback, PartnerCallbackAttempt, StateTransition
from roamcard.partner.service import callbacks, manage
from roamcard.partner.service.callbacks import CallbackUrlRefused, check_callback_url
from roamcard.reseller import signing
from tests.partner.support import TOPUPS, MadePartner, Platform, make_cards, make_partner, topup_body
from tests.voucher.support import count_rows


@dataclass
class Receiver:
    """A partner's callback endpoint on a local port: it answers `fail_first` attempts with 500, then 200,
    and verifies each signature with the partner's secret, as the partner's own code would."""

    fail_first: int = 0
    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = signing.matches(
                state.secret,
                "POST",
                self.path,
                self.headers["Roamcard-Timestamp"],
                self.headers["Roamcard-Nonce"],
                body,
                self.headers["Roamcard-Signature"],
            )
            state.verified.append(ok and self.headers["Roamcard-Key"].startswith("pk_"))
            state.received.append(json.loads(body))
            failing = len(state.received) <= state.fail_first
            answer = b'{"error": "try later"}' if failing else b"OK"
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/roamcard/callback?shop=7"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def sandbox_partner(database: Database, receiver: Receiver) -> MadePartner:
    partner = make_partner(database, mode="sandbox", callback_url=receiver.url)
    receiver.secret = partner.secret
    return partner


def callback_of(database: Database) -> PartnerCallback:
    with database.reading() as session:
        found = session.query(PartnerCallback).one()
        session.expunge(found)
        return found


class TestDelivery:
    def test_a_callback_that_fails_at_first_is_retried_until_it_is_delivered_and_verified(
        self, client: TestClient, database: Database, receiver: Receiver, frozen_clock: FrozenClock
    ) -> None:
        receiver.fail_first = 2
        partner = sandbox_partner(database, receiver)
        card = make_cards(database, sandbox=True)
        platform = Platform(client, partner)
        created = platform.post(TOPUPS, topup_body(card)).json()
        worker = build_worker(database)
        worker.drain()
        assert len(receiver.received) == 1
        assert callback_of(database).status == "pending"
        frozen_clock.advance(seconds=31)  # the first retry is due after 30 s
        worker.drain()
        assert len(receiver.received) == 2
        frozen_clock.advance(seconds=61)  # then 60 s
        worker.drain()
        assert len(receiver.received) == 3
        assert callback_of(database).status == "delivered"
        frozen_clock.advance(hours=2)
        worker.drain()
        assert len(receiver.received) == 3  # nothing after a 2xx
        assert receiver.verified == [True, True, True]
        polled = platform.get(f"{TOPUPS}/mp-0001").json()
        assert receiver.received[-1] == polled == {**created, "card_number": card.card_number}
        with database.reading() as session:
            attempts = session.query(PartnerCallbackAttempt).order_by(PartnerCallbackAttempt.id).all()
            assert [a.status_code for a in attempts] == [500, 500, 200]
            assert attempts[0].response_head == '{"error": "try later"}'
            assert attempts[2].response_head == "OK"
            assert all(a.latency_ms >= 0 and a.attempted_at is not None for a in attempts)

    def test_every_attempt_shares_one_tls_context(
        self,
        client: TestClient,
        database: Database,
        receiver: Receiver,
        frozen_clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Loading the CA bundle costs ~25 ms of CPU: made once per process, not per attempt."""
        made: list[object] = []
        real = httpx.create_ssl_context

        def counting(*args: Any, **kwargs: Any) -> Any:
            made.append(object())
            return real(*args, **kwargs)

        monkeypatch.setattr(httpx, "create_ssl_context", counting)
        callbacks._tls.cache_clear()
        receiver.fail_first = 1
        partner = sandbox_partner(database, receiver)
        card = make_cards(database, sandbox=True)
        Platform(client, partner).post(TOPUPS, topup_body(card))
        worker = build_worker(database)
        worker.drain()
        frozen_clock.advance(seconds=31)
        worker.drain()
        assert len(receiver.received) == 2
        assert callback_of(database).status == "delivered"
        assert len(made) == 1
        callbacks._tls.cache_clear()

    def test_no_answer_is_retried_and_never_fails_the_top_up(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()  # nothing listens there: connection refused
        partner = make_partner(database, mode="sandbox", callback_url=f"http://127.0.0.1:{port}/cb")
        card = make_cards(database, sandbox=True)
        Platform(client, partner).post(TOPUPS, topup_body(card))
        assert callbacks.deliver(database, callback_of(database).id) == "retry"
        with database.reading() as session:
            attempt = session.query(PartnerCallbackAttempt).one()
            assert attempt.status_code is None
            assert attempt.error == "ConnectError"
        assert Platform(client, partner).get(f"{TOPUPS}/mp-0001").json()["status"] == "fulfilled"

    def test_after_24_hours_of_failures_the_callback_is_dead_and_staff_can_replay_it(
        self, client: TestClient, database: Database, receiver: Receiver, frozen_clock: FrozenClock
    ) -> None:
        receiver.fail_first = 10_000
        partner = sandbox_partner(database, receiver)
        card = make_cards(database, sandbox=True)
        Platform(client, partner).post(TOPUPS, topup_body(card))
        worker = build_worker(database)
        for _ in range(60):
            worker.drain()
            if callback_of(database).status == "dead":
                break
            frozen_clock.advance(hours=1)
        found = callback_of(database)
        assert found.status == "dead"
        attempts = len(receiver.received)
        assert 20 < attempts < 40  # backoff up to an hour, for a day
        assert count_rows(database, PartnerCallbackAttempt) == attempts
        frozen_clock.advance(hours=5)
        worker.drain()
        assert len(receiver.received) == attempts  # dead: no more attempts
        receiver.fail_first = 0
        receiver.received.clear()
        with database.transaction() as session:
            assert callbacks.replay(session, found.public_id, reason="staff@example.com: partner fixed")
            assert not callbacks.replay(session, found.public_id, reason="twice")
        worker.drain()
        assert len(receiver.received) == 1
        assert callback_of(database).status == "delivered"
        assert count_rows(database, StateTransition, StateTransition.entity_type == "partner_callback") == 4


class TestSsrf:
    @pytest.mark.parametrize(
        "url",
        [
            "http://partner.example/cb",  # not https
            "https://127.0.0.1/cb",
            "https://10.1.2.3/cb",
            "https://192.168.0.10/cb",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/cb",
            "https://localhost/cb",
            "https://metadata.localhost/cb",
        ],
    )
    def test_a_live_partner_cannot_have_a_local_or_plain_http_callback(
        self, database: Database, url: str
    ) -> None:
        with pytest.raises(manage.PartnerProblem):
            make_partner(database, mode="live", callback_url=url)

    def test_sandbox_partners_may_call_a_local_receiver(self, database: Database) -> None:
        make_partner(database, mode="sandbox", callback_url="http://127.0.0.1:8080/cb")

    def test_a_host_that_resolves_to_a_private_address_is_refused_before_each_attempt(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            socket, "getaddrinfo", lambda *args, **kwargs: [(socket.AF_INET, 1, 6, "", ("10.0.0.7", 443))]
        )
        with pytest.raises(CallbackUrlRefused):
            check_callback_url("https://rebound.example/cb", "live")
        check_callback_url("https://rebound.example/cb", "live", resolve=False)  # at creation: name only

    def test_a_live_callback_to_a_local_address_is_not_sent(
        self,
        client: TestClient,
        database: Database,
        receiver: Receiver,
        frozen_clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        partner = make_partner(database, mode="live", callback_url="https://partner.example/cb")
        receiver.secret = partner.secret
        card = make_cards(database)
        Platform(client, partner).post(TOPUPS, topup_body(card))
        monkeypatch.setattr(
            socket, "getaddrinfo", lambda *args, **kwargs: [(socket.AF_INET, 1, 6, "", ("127.0.0.1", 443))]
        )
        assert callbacks.deliver(database, callback_of(database).id) == "retry"
        with database.reading() as session:
            attempt = session.query(PartnerCallbackAttempt).one()
            assert attempt.status_code is None
            assert (attempt.error or "").startswith("refused:")
        assert receiver.received == []


class TestDnsRebinding:
    """The address a live callback connects to is the one that was checked: a resolver that answers a
    public address first and a private one next (DNS rebinding) never gets the callback to the private
    one, because the connection is made to the vetted address with `Host` and TLS for the name."""

    PUBLIC = "93.184.216.34"

    def test_the_connection_goes_to_the_vetted_address_not_a_second_lookup(
        self,
        client: TestClient,
        database: Database,
        frozen_clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        answers = iter([self.PUBLIC, "127.0.0.1", "127.0.0.1", "127.0.0.1"])
        lookups: list[str] = []

        def rebinding(host: str, port: int) -> list[str]:
            lookups.append(host)
            return [next(answers)]

        connected: list[tuple[str, int]] = []
        tls_names: list[str | None] = []

        class Stream:
            def start_tls(self, ssl_context: Any, server_hostname: str | None = None, **_: Any) -> Any:
                tls_names.append(server_hostname)
                raise httpcore.ConnectError("no network in tests")

            def close(self) -> None:
                pass

        def connect_tcp(_backend: Any, host: str, port: int, **_: Any) -> Stream:
            connected.append((host, port))
            return Stream()

        monkeypatch.setattr(callbacks, "_resolve", rebinding)
        monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
        partner = make_partner(database, mode="live", callback_url="https://partner.example:8443/cb?x=1")
        card = make_cards(database)
        Platform(client, partner).post(TOPUPS, topup_body(card))

        assert callbacks.deliver(database, callback_of(database).id) == "retry"
        assert lookups == ["partner.example"]  # looked up once, by us: httpx connected to the address
        assert connected == [(self.PUBLIC, 8443)]
        assert tls_names == ["partner.example"]  # SNI and certificate verification for the name

        # The next attempt looks up again and is refused before connecting: the answer is now private.
        assert callbacks.deliver(database, callback_of(database).id) == "retry"
        assert connected == [(self.PUBLIC, 8443)]
        with database.reading() as session:
            errors = [
                a.error for a in session.query(PartnerCallbackAttempt).order_by(PartnerCallbackAttempt.id)
            ]
        assert errors[0] == "ConnectError"
        assert (errors[1] or "").startswith("refused:")

    @pytest.mark.parametrize(
        ("url", "address", "expected", "host"),
        [
            ("https://partner.example/cb?a=1", PUBLIC, f"https://{PUBLIC}/cb?a=1", "partner.example"),
            ("https://partner.example:8443/cb", PUBLIC, f"https://{PUBLIC}:8443/cb", "partner.example:8443"),
            (
                "https://partner.example/cb",
                "2606:2800:220:1::1",
                "https://[2606:2800:220:1::1]/cb",
                "partner.example",
            ),
        ],
    )
    def test_the_request_names_the_address_and_carries_the_host(
        self, url: str, address: str, expected: str, host: str
    ) -> None:
        target, headers, extensions = callbacks.pinned_request(url, address)
        assert target == expected
        assert headers == {"Host": host}
        assert extensions == {"sni_hostname": "partner.example"}
        assert callbacks.pinned_request("https://93.184.216.34/cb", "93.184.216.34") == (
            "https://93.184.216.34/cb",
            {},
            {},
        )
        assert callbacks.pinned_request("http://127.0.0.1:9/cb", None) == ("http://127.0.0.1:9/cb", {}, {})

    def test_a_resolver_answering_public_and_private_together_is_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(callbacks, "_resolve", lambda host, port: [self.PUBLIC, "10.0.0.7"])
        with pytest.raises(CallbackUrlRefused):
            check_callback_url("https://partner.example/cb", "live")
        monkeypatch.setattr(callbacks, "_resolve", lambda host, port: [self.PUBLIC])
        assert check_callback_url("https://partner.example/cb", "live") == self.PUBLIC
