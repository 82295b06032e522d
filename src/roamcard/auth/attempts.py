"""Password attempts per sign-in name, counted before the password is checked.

A name is a card number or a staff e-mail, issued or not: an unknown number is counted and locked exactly
like a real one, so the answers tell nothing about which numbers exist. `reserve` spends one attempt with a
single conditional `UPDATE … RETURNING` (a row lock on PostgreSQL, the writer lock on SQLite), so twenty
parallel guesses get five checks and fifteen refusals, not twenty checks. The attempt that reaches the
limit sets the lock at once; a right password then `clear`s the count and the lock. The reservation is its
own short transaction: the password is checked (argon2, ~200 ms) after it has committed, with no write
transaction open (docs/security.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.orm import Session

from roamcard.db import insert_ignoring_conflict
from roamcard.kit import clock
from roamcard.models import SignInAttempt
from roamcard.models.base import UTCDateTime

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


def reserve(
    session: Session, scope: str, subject: str, *, max_failures: int, lockout_seconds: int
) -> Reservation | Locked:
    now = clock.now()
    insert_ignoring_conflict(
        session,
        SignInAttempt,
        {"scope": scope, "subject": subject, "attempts": 0, "locked_until": None, "updated_at": now},
    )
    lock_ends = bindparam("lock_ends", now + timedelta(seconds=lockout_seconds), type_=UTCDateTime())
    # A lock that has run out starts a fresh count.
    spent = case((SignInAttempt.locked_until.is_not(None), 1), else_=SignInAttempt.attempts + 1)
    row = session.execute(
        update(SignInAttempt)
        .where(
            SignInAttempt.scope == scope,
            SignInAttempt.subject == subject,
            (SignInAttempt.locked_until.is_(None)) | (SignInAttempt.locked_until <= now),
        )
        .values(
            attempts=spent,
            locked_until=case((spent >= max_failures, lock_ends), else_=None),
            updated_at=now,
        )
        .returning(SignInAttempt.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        return Reservation(attempt=int(row[0]), max_failures=max_failures)
    until = locked_until(session, scope, subject)
    return Locked(max(1, math.ceil((until - now).total_seconds())) if until else lockout_seconds)


def clear(session: Session, scope: str, subject: str) -> None:
    """A right password: the count starts again and a lock is lifted."""
    session.execute(
        delete(SignInAttempt)
        .where(SignInAttempt.scope == scope, SignInAttempt.subject == subject)
        .execution_options(synchronize_session=False)
    )


def locked_until(session: Session, scope: str, subject: str) -> datetime | None:
    """When the name's lock ends, or None when it is not locked now."""
    until = session.scalar(
        select(SignInAttempt.locked_until).where(
            SignInAttempt.scope == scope, SignInAttempt.subject == subject
        )
    )
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
