"""Callbacks: when a partner top-up reaches a final state, we POST the body of
`GET /api/v1/partner/topups/{external_id}` to the partner's `callback_url`, signed exactly as the partner
signs its requests (reseller/signing.py, with the partner's current key), so it verifies us with the code
it already has.

The callback row is written and its `partner.callback` job queued in the transaction that made the top-up
final (the outbox). The job is an external one: it reads what to send in a short transaction, calls the
partner with no transaction open (httpx), and records the attempt (time, status code, latency, the first
200 bytes of the answer) in another. Anything but a 2xx (a timeout included: no answer is unknown, never a
failure of the top-up) is retried with exponential backoff by a new job due later, for
`partner_callback_retry_hours` (24) after the first attempt; then the callback is dead, and staff may
replay it from the back office (audited).

SSRF: in live mode the URL must be https, and every address its host resolves to must be a public one
(private, loopback, link-local, reserved and multicast addresses are refused, checked again before each
attempt); the attempt then connects to the address that was checked, not to what the name resolves to a
moment later (DNS rebinding: `pinned_request`), with `Host`, TLS SNI and certificate verification for the
name; no proxy from the environment is used. In sandbox mode a local receiver is allowed, for testing.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import structlog
from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.partner import repository
from roamcard.partner.repository import TopupView
from roamcard.partner.states import CallbackStatus, PartnerMode, callback_machine, partner_status
from roamcard.reseller import signing

log = structlog.get_logger("roamcard.partner")

JOB = "partner.callback"
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 3600
HEAD_BYTES = 200


class CallbackUrlRefused(ValueError):
    """A callback URL we will not call (the reason is said in English for staff and logs)."""


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver; tests stub it)."""
    found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in found]


def check_callback_url(url: str, mode: str, *, resolve: bool = True) -> str | None:
    """Raise CallbackUrlRefused for a URL this partner's callbacks may not go to. `resolve`: also look the
    host name up (before each attempt); without it only a literal address is checked (at creation).

    Returns the vetted address a live callback must connect to (the literal address, or the first one the
    name resolved to, all of them public); None in sandbox mode or without `resolve`."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CallbackUrlRefused("the callback URL must be an http(s) URL with a host")
    if mode != PartnerMode.LIVE.value:
        return None
    if parts.scheme != "https":
        raise CallbackUrlRefused("a live partner's callback URL must be https")
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise CallbackUrlRefused("a live partner's callback URL may not be a local address")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if not resolve:
            return None
        try:
            addresses = _resolve(host, parts.port or 443)
        except OSError as exc:
            raise CallbackUrlRefused(f"the callback host does not resolve ({type(exc).__name__})") from None
    if not addresses or any(_refused_address(address) for address in addresses):
        raise CallbackUrlRefused(
            "a live partner's callback URL may not be a private, loopback or link-local address"
        )
    return addresses[0]


def pinned_request(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL to connect to, extra headers, httpx request extensions) so the connection goes to `address`,
    the one `check_callback_url` vetted, and never to what a second DNS lookup might answer (DNS
    rebinding): the URL names the address, `Host` names the partner's host, and TLS is done for the name
    (httpcore's `sni_hostname` extension: SNI and certificate verification against the host name)."""
    parts = urlsplit(url)
    host = parts.hostname
    if address is None or host is None or host == address:
        return url, {}, {}
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, {"sni_hostname": host}


_QUEUE = (
    "INSERT INTO partner_callbacks (public_id, topup_id, partner_id, status, attempts, window_started_at, "
    "next_attempt_at, created_at, updated_at) VALUES (:public_id, :topup_id, :partner_id, :status, 0, :now, "
    ":now, :now, :now) ON CONFLICT DO NOTHING RETURNING id"
)


def queue(db: Session | Tx, *, partner_id: int, topup_id: int) -> None:
    """The top-up is final: its callback, and the job that delivers it, in the caller's transaction."""
    tx = as_tx(db)
    public_id = new_id("pcb")
    callback_id = tx.value(
        _QUEUE,
        public_id=public_id,
        topup_id=topup_id,
        partner_id=partner_id,
        status=CallbackStatus.PENDING.value,
        now=clock.now(),
    )
    if callback_id is None:  # queued already
        return
    callback_machine.record_creation(tx, public_id, CallbackStatus.PENDING)
    enqueue(tx, JOB, {"callback_id": int(callback_id)}, dedupe_key=f"{public_id}:0")


def body_of(view: TopupView) -> dict[str, Any]:
    """The top-up as the partner API shows it (GET /topups/{external_id} and the callback)."""

    def money(amount: int) -> dict[str, Any]:
        return {"amount": amount, "currency": view.currency}

    return {
        "id": view.public_order_id,
        "external_id": view.external_id,
        "status": partner_status(view.order_status).value,
        "card_number": view.card_number,
        "product_id": view.product_id,
        "price": money(view.price_amount),
        "partner_cost": money(view.partner_cost_amount),
        "commission": money(view.commission_amount),
        "created_at": view.created_at.isoformat().replace("+00:00", "Z"),
        "fulfilled_at": view.fulfilled_at.isoformat().replace("+00:00", "Z") if view.fulfilled_at else None,
    }


@dataclass(frozen=True)
class Delivery:
    """What one attempt sends, read in a short transaction."""

    callback_id: int
    public_id: str
    url: str
    mode: str
    api_key_id: str
    secret: str
    body: bytes


_TO_DELIVER = (
    "SELECT c.public_id, c.status, c.topup_id, p.callback_url, p.mode, k.api_key_id, k.api_secret_encrypted "
    "FROM partner_callbacks c JOIN partners p ON p.id = c.partner_id "
    "JOIN partner_keys k ON k.partner_id = p.id AND k.expires_at IS NULL "
    "WHERE c.id = :id ORDER BY k.id DESC"
)


def _to_deliver(tx: Tx, callback_id: int) -> Delivery | None:
    row = tx.one(_TO_DELIVER, id=callback_id)
    if row is None or row[1] != CallbackStatus.PENDING.value:
        return None
    public_id, _, topup_id, url, mode, key_id, sealed = row
    view = repository.topup_by_id(tx, int(topup_id))
    assert view is not None
    try:
        secret = signing.unseal(key_id, sealed)
    except (keys.UnknownKey, ValueError):
        log.error("partner.callback_secret_unreadable", callback=public_id, hint="roamcard keys rotate")
        raise
    return Delivery(callback_id, public_id, url, mode, key_id, secret, orjson.dumps(body_of(view)))


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (timeout, refused connection, refused URL)
    head: str | None
    error: str | None
    latency_ms: int


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's CAs, hostname checks), made once per process: loading the
    CA bundle costs ~25 ms of CPU, which a new client per attempt paid every time (bench/partner.py)."""
    return httpx.create_ssl_context()


def _post(delivery: Delivery) -> Answer:
    """One signed POST with no transaction open. Redirects are not followed (a 3xx is a failure)."""
    started = time.monotonic()
    try:
        address = check_callback_url(delivery.url, delivery.mode)
    except CallbackUrlRefused as exc:
        return Answer(None, None, f"refused: {exc}"[:200], 0)
    url, host, extensions = pinned_request(delivery.url, address)
    parts = urlsplit(delivery.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = signing.headers(
        delivery.api_key_id,
        delivery.secret,
        "POST",
        target,
        delivery.body,
        timestamp=int(clock.now().timestamp()),
        nonce=secrets.token_urlsafe(18),
    )
    timeout = get_settings().partner_callback_timeout_seconds
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls()) as client:
            request = client.build_request(
                "POST",
                url,
                content=delivery.body,
                headers={
                    **headers,
                    **host,
                    "Content-Type": "application/json",
                    "User-Agent": "Roamcard-Callback/1",
                },
                extensions=extensions,
            )
            response = client.send(request)
            head = response.content[:HEAD_BYTES].decode("utf-8", "replace")
            return Answer(response.status_code, head, None, _since(started))
    except httpx.TimeoutException:
        return Answer(None, None, "timeout", _since(started))
    except httpx.HTTPError as exc:
        return Answer(None, None, f"{type(exc).__name__}"[:200], _since(started))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


_ATTEMPT = (
    "INSERT INTO partner_callback_attempts (callback_id, attempted_at, status_code, latency_ms, "
    "response_head, error) VALUES (:callback_id, :at, :status_code, :latency_ms, :head, :error)"
)
_COUNT = (
    "UPDATE partner_callbacks SET attempts = attempts + 1, next_attempt_at = NULL, updated_at = :now "
    "WHERE id = :id AND status = 'pending' RETURNING attempts, window_started_at"
)


_DUE = "UPDATE partner_callbacks SET next_attempt_at = :due WHERE id = :id"
_REPLAYED = "SELECT id, attempts FROM partner_callbacks WHERE public_id = :public_id"


def delay_after(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … an hour at most."""
    return timedelta(seconds=min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** max(attempts - 1, 0)))


def _record(tx: Tx, delivery: Delivery, answer: Answer) -> str:
    """The attempt, and what follows it: delivered, dead, or another job due after the backoff."""
    now = clock.now()
    tx.run(
        _ATTEMPT,
        callback_id=delivery.callback_id,
        at=now,
        status_code=answer.status_code,
        latency_ms=answer.latency_ms,
        head=answer.head,
        error=answer.error,
    )
    counted = tx.one(_COUNT, id=delivery.callback_id, now=now)
    if counted is None:  # delivered or dead meanwhile (a second run of the job)
        return "gone"
    attempts, window_started_at = int(counted[0]), tx.dt(counted[1])
    assert window_started_at is not None
    reason = f"attempt {attempts}: {answer.status_code or answer.error}"[:200]
    if answer.status_code is not None and 200 <= answer.status_code < 300:
        callback_machine.transition(
            tx, delivery.public_id, CallbackStatus.PENDING, CallbackStatus.DELIVERED, reason=reason
        )
        return CallbackStatus.DELIVERED.value
    window_ends = window_started_at + timedelta(hours=get_settings().partner_callback_retry_hours)
    if now >= window_ends:
        callback_machine.transition(
            tx, delivery.public_id, CallbackStatus.PENDING, CallbackStatus.DEAD, reason=reason
        )
        log.warning("partner.callback_dead", callback=delivery.public_id, attempts=attempts)
        return CallbackStatus.DEAD.value
    due = min(now + delay_after(attempts), window_ends)
    tx.run(_DUE, due=due, id=delivery.callback_id)
    enqueue(
        tx,
        JOB,
        {"callback_id": delivery.callback_id},
        dedupe_key=f"{delivery.public_id}:{attempts}",
        run_at=due,
    )
    return "retry"


def deliver(database: Database, callback_id: int) -> str:
    """One attempt of the `partner.callback` job (the Database: short transactions, none held while the
    partner answers). Returns what became of the callback."""
    with database.tx() as tx:
        delivery = _to_deliver(tx, callback_id)
    if delivery is None:
        return "gone"
    answer = _post(delivery)
    log.info(
        "partner.callback_attempt",
        callback=delivery.public_id,
        status_code=answer.status_code,
        error=answer.error,
        latency_ms=answer.latency_ms,
    )
    with database.tx() as tx:
        return _record(tx, delivery, answer)


def replay(db: Session | Tx, public_id: str, *, reason: str) -> bool:
    """dead -> pending, with a new 24-hour window and a job due now. False unless it was dead."""
    tx = as_tx(db)
    now = clock.now()
    if not callback_machine.transition(
        tx,
        public_id,
        CallbackStatus.DEAD,
        CallbackStatus.PENDING,
        reason=reason[:200],
        window_started_at=now,
        next_attempt_at=now,
    ):
        return False
    row = tx.one(_REPLAYED, public_id=public_id)
    assert row is not None
    enqueue(tx, JOB, {"callback_id": int(row[0])}, dedupe_key=f"{public_id}:{int(row[1])}:replay")
    return True
