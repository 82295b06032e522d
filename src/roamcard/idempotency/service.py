"""Idempotent creates (docs/architecture.md).

The key row is inserted first, in the same transaction as the create. A concurrent request with the same
key blocks on the unique index until the first commits (PostgreSQL) or waits for the write lock (SQLite),
then replays the stored response. Same key + different body is a 409. A create that fails stores nothing,
so the client may retry it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import AppError, Conflict
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import IdempotencyKey

PLACEHOLDER_STATUS = 0
PURGE_CHUNK = 1000
# Longer than any gateway call may take (timeout plus retries): past it, an in-flight key is a crash.
IN_FLIGHT_STALE_SECONDS = 120


class IdempotencyKeyMissing(AppError):
    status_code = 400
    code = "idempotency_key_missing"
    message = "Send an Idempotency-Key header with every create request."


class IdempotencyKeyInvalid(AppError):
    status_code = 400
    code = "idempotency_key_invalid"
    message = "The Idempotency-Key header must be 1 to 200 visible characters."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    message = "A request with this Idempotency-Key is still being processed. Retry shortly."


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def validate_key(key: str | None) -> str:
    if key is None:
        raise IdempotencyKeyMissing()
    if not 1 <= len(key) <= 200 or not key.isprintable() or not key.isascii() or key.strip() != key:
        raise IdempotencyKeyInvalid()
    return key


def request_fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    # The stdlib's bytes on purpose: fingerprints already stored must still match after an upgrade.
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_CLAIM = (
    'INSERT INTO idempotency_keys (scope, "key", request_hash, response_status, response_body, created_at) '
    "VALUES (:scope, :key, :fingerprint, 0, '', :now) ON CONFLICT DO NOTHING RETURNING id"
)
_WINNER = (
    "SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys "
    'WHERE scope = :scope AND "key" = :key'
)
# Public: a create that answers in its own last statement folds this into it (topup/service/create.py).
FINISH_SQL = (
    "UPDATE idempotency_keys SET response_status = :status, response_body = :body "
    'WHERE scope = :scope AND "key" = :key'
)
_HOLD = (
    "UPDATE idempotency_keys SET response_body = :body "
    'WHERE scope = :scope AND "key" = :key AND response_status = 0'
)
_ABANDON = 'DELETE FROM idempotency_keys WHERE scope = :scope AND "key" = :key AND response_status = 0'


def _dumps(body: Any) -> str:
    return orjson.dumps(body).decode()


def _replay(
    fingerprint: str, stored_hash: str, status: int, body: str, created_at: datetime | None
) -> StoredResponse:
    if stored_hash != fingerprint:
        raise IdempotencyKeyReused()
    if status == PLACEHOLDER_STATUS:
        age = clock.now() - created_at if created_at is not None else timedelta(0)
        stale = age > timedelta(seconds=IN_FLIGHT_STALE_SECONDS)
        if stale and body:
            provisional = orjson.loads(body)
            return StoredResponse(provisional["provisional_status"], provisional["body"], replayed=True)
        raise IdempotencyKeyInFlight(headers={"Retry-After": "1"})
    return StoredResponse(status, orjson.loads(body), replayed=True)


def begin(db: Session | Tx, *, scope: str, key: str, fingerprint: str) -> StoredResponse | None:
    """Claim the key (a placeholder row) or return what replaying it answers.

    One INSERT … ON CONFLICT DO NOTHING: a concurrent request with the same key makes it wait on the
    unique index until the first commits (or rolls back, and then this one claims the key)."""
    tx = as_tx(db)
    if tx.one(_CLAIM, scope=scope, key=key, fingerprint=fingerprint, now=clock.now()) is not None:
        return None
    winner = tx.one(_WINNER, scope=scope, key=key)
    if winner is None:
        raise IdempotencyKeyInFlight(headers={"Retry-After": "1"})
    return _replay(fingerprint, winner[0], int(winner[1]), winner[2], tx.dt(winner[3]))


def finish_params(*, scope: str, key: str, status_code: int, body: dict[str, Any]) -> dict[str, Any]:
    """The parameters of FINISH_SQL: the stored answer, as a replay will read it."""
    return {"scope": scope, "key": key, "status": status_code, "body": _dumps(body)}


def finish(db: Session | Tx, *, scope: str, key: str, status_code: int, body: dict[str, Any]) -> None:
    as_tx(db).run(FINISH_SQL, **finish_params(scope=scope, key=key, status_code=status_code, body=body))


def hold(db: Session | Tx, *, scope: str, key: str, status_code: int, body: dict[str, Any]) -> None:
    """For a create that commits before it is complete (it waits on a remote gateway with no transaction
    open): the key stays in flight (409 + Retry-After), and keeps a provisional answer that is replayed
    only if the create never finishes (a crash), once the key is older than IN_FLIGHT_STALE_SECONDS."""
    provisional = {"provisional_status": status_code, "body": body}
    as_tx(db).run(_HOLD, scope=scope, key=key, body=_dumps(provisional))


def abandon(db: Session | Tx, *, scope: str, key: str) -> None:
    """The create failed after its first commit: free the key, so the client may retry it."""
    as_tx(db).run(_ABANDON, scope=scope, key=key)


def run_once(
    session: Session | Tx,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    create: Callable[[], tuple[int, dict[str, Any]]],
) -> StoredResponse:
    replay = begin(session, scope=scope, key=key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    status_code, body = create()
    finish(session, scope=scope, key=key, status_code=status_code, body=body)
    return StoredResponse(status_code, body, replayed=False)


def purge_expired(session: Session, *, limit: int = PURGE_CHUNK) -> int:
    """Sweeper: forget up to `limit` keys older than ROAMCARD_IDEMPOTENCY_KEY_RETENTION_HOURS (24). A client
    retrying later than that makes a new request. Returns how many were purged."""
    cutoff = clock.now() - timedelta(hours=get_settings().idempotency_key_retention_hours)
    oldest = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < cutoff)
        .order_by(IdempotencyKey.id)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
