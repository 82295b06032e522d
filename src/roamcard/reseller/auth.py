"""Who is calling a signed API (the dealer POS API, the partner API): proven by a signature over the exact
request (signing.py), with its nonce burnt in one store for both (`request_nonces`).

Each API keeps its own error codes (the POS codes speak to a till), given as `Refusals`; the checks, their
order and the nonce store are this module's alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import RequestNonce
from roamcard.reseller import signing

log = structlog.get_logger("roamcard.reseller")

T = TypeVar("T")

HEADERS = (signing.KEY_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER, signing.SIGNATURE_HEADER)


@dataclass(frozen=True)
class Refusals:
    """The errors one API answers with (all 401), and the prefix of its log events."""

    missing: type[AppError]
    stale: type[AppError]
    bad_signature: type[AppError]
    replayed: type[AppError]
    log_as: str


@dataclass(frozen=True)
class Signer:
    """What `find` hands back for a key id with the caller: the id its nonces are kept under (its public
    id), the key's sealed secret (signing.seal) and, for a rotated-out key, when it stops working."""

    signer: str
    api_key_id: str
    sealed_secret: str
    expires_at: datetime | None = None

    def secret(self) -> str | None:
        """None when the key no longer verifies: expired, or no configured key opens it."""
        if self.expires_at is not None and self.expires_at <= clock.now():
            return None
        try:
            return signing.unseal(self.api_key_id, self.sealed_secret)
        except (keys.UnknownKey, ValueError):
            log.error("signed_api.secret_unreadable", signer=self.signer, hint="roamcard keys rotate")
            return None


_BURN_NONCE = (
    "INSERT INTO request_nonces (signer, nonce, seen_at) VALUES (:signer, :nonce, :now) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


def signed_parts(request: Request) -> tuple[str, dict[str, str | None]]:
    """The path and query exactly as sent (what was signed), and the signature headers."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    return target, {name: request.headers.get(name) for name in HEADERS}


def verify(
    db: Session | Tx,
    *,
    method: str,
    path: str,
    headers: dict[str, str | None],
    body: bytes,
    find: Callable[[Tx, str], tuple[T, Signer] | None],
    refusals: Refusals,
) -> T:
    """Verify the signature on the raw request and burn its nonce; returns the caller `find` named. The
    caller's transaction must commit the nonce whatever the request does next (the work runs after it in
    a savepoint): a request that fails later must not become replayable."""
    key_id, stamp, nonce, given = (headers.get(name) for name in HEADERS)
    if not (key_id and stamp and nonce and given) or not signing.NONCE.match(nonce):
        raise refusals.missing()
    if not stamp.isdigit() or len(stamp) > 12:
        raise refusals.stale()
    now = clock.now()
    window = get_settings().pos_signature_window_seconds
    key_id = key_id[:40]
    if abs(int(now.timestamp()) - int(stamp)) > window:
        log.warning(f"{refusals.log_as}.rejected", reason="timestamp", key_id=key_id)
        raise refusals.stale()
    tx = as_tx(db)
    found = find(tx, key_id)
    secret = found[1].secret() if found is not None else None
    if (
        found is None
        or secret is None
        or not signing.matches(secret, method, path, stamp, nonce, body, given)
    ):
        log.warning(f"{refusals.log_as}.rejected", reason="signature", key_id=key_id)
        raise refusals.bad_signature()
    assert found is not None
    caller, signer = found
    if tx.one(_BURN_NONCE, signer=signer.signer, nonce=nonce, now=now) is None:
        log.warning(f"{refusals.log_as}.rejected", reason="replay", signer=signer.signer)
        raise refusals.replayed()
    return caller


def purge_old_nonces(session: Session) -> int:
    """A nonce only needs remembering while its timestamp is inside the window (both sides of now)."""
    window = get_settings().pos_signature_window_seconds
    instant = clock.now() - timedelta(seconds=2 * window + 60)
    result = session.execute(
        delete(RequestNonce)
        .where(RequestNonce.seen_at < instant)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
