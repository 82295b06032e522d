"""Password attempts per sign-in name, counted before the password is checked.

A name is a card number or a staff e-mail, issued or not: an unknown number is counted and locked exactly
like a real one, so the answers tell nothing about which numbers exist. `reserve` spends one attempt with a
single conditional upsert, `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` (a row lock on PostgreSQL,
the writer lock on SQLite), so twenty parallel guesses get five checks and fifteen refusals, not twenty.
The attempt that reaches the limit sets the lock at once; a right password then `clear`s the count and the
lock. The reservation is its
own short transaction: the password is checked (argon2, ~200 ms) after it has committed, with no write
transaction open (docs/security.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import SignInAttempt

CARD = "card"
STAFF = "staff"
# A count nobody has added to for this long is forgotten (so the table does not keep every number typed).
FORGET_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Reservation:
    """One attempt spent: `attempt` of `max_failures`. `last` means a wrong password now locks the name."""

    attempt: int
    max_failures: int

    @property
    def last(self) -> bool:
        return self.attempt >= self.max_failures


@dataclass(frozen=True)
class Locked:
    retry_after_seconds: int


# Spends one attempt in one statement: a new name starts at 1; a lock that has run out starts a fresh
# count; the attempt that reaches the limit sets the lock. A name locked now changes nothing (no row back).
RESERVE = (
    "INSERT INTO sign_in_attempts (scope, subject, attempts, locked_until, updated_at) "
    "VALUES (:scope, :subject, 1, :first_lock, :now) "
    "ON CONFLICT (scope, subject) DO UPDATE SET "
    "attempts = CASE WHEN sign_in_attempts.locked_until IS NULL "
    "THEN sign_in_attempts.attempts + 1 ELSE 1 END, "
    "locked_until = CASE WHEN (CASE WHEN sign_in_attempts.locked_until IS NULL "
    "THEN sign_in_attempts.attempts + 1 ELSE 1 END) >= :max_failures THEN :lock_ends END, "
    "updated_at = :now "
    "WHERE sign_in_attempts.locked_until IS NULL OR sign_in_attempts.locked_until <= :now "
    "RETURNING attempts"
)
_LOCKED_UNTIL = "SELECT locked_until FROM sign_in_attempts WHERE scope = :scope AND subject = :subject"
CLEAR = "DELETE FROM sign_in_attempts WHERE scope = :scope AND subject = :subject"


def reserve_params(scope: str, subject: str, *, max_failures: int, lockout_seconds: int) -> dict[str, Any]:
    """The parameters of `RESERVE` (for a caller that folds it into a larger statement)."""
    now = clock.now()
    lock_ends = now + timedelta(seconds=lockout_seconds)
    return {
        "scope": scope,
        "subject": subject,
        "first_lock": lock_ends if max_failures <= 1 else None,
        "max_failures": max_failures,
        "lock_ends": lock_ends,
        "now": now,
    }


def outcome(
    attempt: int | None, until: datetime | None, *, max_failures: int, lockout_seconds: int
) -> Reservation | Locked:
    """What `RESERVE` gave back: the attempt spent, or (no row) the name's lock and when it ends. A lock
    not seen yet (set by a parallel attempt that committed after this statement's snapshot) is a whole
    lock-out period, which it is within milliseconds."""
    if attempt is not None:
        return Reservation(attempt=int(attempt), max_failures=max_failures)
    now = clock.now()
    if until is None or until <= now:
        return Locked(lockout_seconds)
    return Locked(max(1, math.ceil((until - now).total_seconds())))


def reserve(
    db: Session | Tx, scope: str, subject: str, *, max_failures: int, lockout_seconds: int
) -> Reservation | Locked:
    tx = as_tx(db)
    params = reserve_params(scope, subject, max_failures=max_failures, lockout_seconds=lockout_seconds)
    attempt = tx.value(RESERVE, **params)
    until = None if attempt is not None else locked_until(tx, scope, subject)
    return outcome(attempt, until, max_failures=max_failures, lockout_seconds=lockout_seconds)


def clear(db: Session | Tx, scope: str, subject: str) -> None:
    """A right password: the count starts again and a lock is lifted."""
    as_tx(db).run(CLEAR, scope=scope, subject=subject)


def locked_until(db: Session | Tx, scope: str, subject: str) -> datetime | None:
    """When the name's lock ends, or None when it is not locked now."""
    tx = as_tx(db)
    until = tx.dt(tx.value(_LOCKED_UNTIL, scope=scope, subject=subject))
    return until if until is not None and until > clock.now() else None


def attempts(session: Session, scope: str, subject: str) -> int:
    """Attempts spent since the last right password or lock-out (0 when none)."""
    return int(
        session.scalar(
            select(SignInAttempt.attempts).where(
                SignInAttempt.scope == scope, SignInAttempt.subject == subject
            )
        )
        or 0
    )


def purge_stale(session: Session) -> int:
    """Forget counts untouched for FORGET_AFTER whose lock (if any) has ended; returns how many."""
    now = clock.now()
    result = session.execute(
        delete(SignInAttempt)
        .where(
            SignInAttempt.updated_at < now - FORGET_AFTER,
            (SignInAttempt.locked_until.is_(None)) | (SignInAttempt.locked_until <= now),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
