"""Who is calling a signed API (the dealer POS API, the partner API): proven by a signature over the exact
request (signing.py), with its nonce burnt in one store for both (`request_nonces`).

Each API keeps its own error codes (the POS codes speak to a till), given as `Refusals`; the checks, their
order and the nonce store are this module's alone."""

from __future__ import annotations

import re
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
from roamcard.metrics import SIGNED_API_REFUSED
from roamcard.models import RequestNonce
from roamcard.reseller import signing

log = structlog.get_logger("roamcard.reseller")

T = TypeVar("T")

# What a log line may repeat of the key id a caller sent: ours look like `pk_…` / `dk_…`; anything else
# is logged as "malformed" (it is the caller's text, not ours, and never a secret).
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

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
        raise _refused(refusals, "missing", key_id)
    if not stamp.isdigit() or len(stamp) > 12:
        raise _refused(refusals, "timestamp", key_id)
    now = clock.now()
    window = get_settings().pos_signature_window_seconds
    key_id = key_id[:40]
    if abs(int(now.timestamp()) - int(stamp)) > window:
        raise _refused(refusals, "timestamp", key_id)
    tx = as_tx(db)
    found = find(tx, key_id)
    secret = found[1].secret() if found is not None else None
    if (
        found is None
        or secret is None
        or not signing.matches(secret, method, path, stamp, nonce, body, given)
    ):
        raise _refused(
            refusals,
            "unknown_key" if found is None else "signature",
            key_id,
            signer=found[1].signer if found is not None else None,
        )
    assert found is not None
    caller, signer = found
    if tx.one(_BURN_NONCE, signer=signer.signer, nonce=nonce, now=now) is None:
        raise _refused(refusals, "replay", key_id, signer=signer.signer)
    return caller


_ERRORS = {
    "missing": "missing",
    "timestamp": "stale",
    "unknown_key": "bad_signature",
    "signature": "bad_signature",
    "replay": "replayed",
}


def _refused(refusals: Refusals, reason: str, key_id: str | None, *, signer: str | None = None) -> AppError:
    """A 401, counted (metric `roamcard_signed_api_refused_total` by API and reason) and logged (the key
    id as sent when it is well-formed, the signer's public id when the key is ours; never a secret, a
    signature or a body). Nothing is written to the database: an unauthenticated caller must not be able
    to make us write (docs/security.md)."""
    SIGNED_API_REFUSED.labels(refusals.log_as, reason).inc()
    shown = key_id[:40] if key_id and _KEY_ID.match(key_id[:40]) else ("malformed" if key_id else None)
    log.warning(f"{refusals.log_as}.rejected", reason=reason, key_id=shown, signer=signer)
    error: type[AppError] = getattr(refusals, _ERRORS[reason])
    return error()


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
