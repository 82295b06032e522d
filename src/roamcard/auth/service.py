"""Card sign-in with the card number and service password.

Limits (docs/security.md): five wrong passwords in a row lock a card number for 15 minutes, counted per
number whether or not it is issued (auth/attempts.py), so an unknown number gets the same answers, and the
same argon2 work, as a real one. Wrong passwords are also limited per (client IP, card number), and every
client IP has a ceiling (`ROAMCARD_LOGIN_IP_LIMIT`) so that one address cannot walk the number space, while
travellers behind one airport NAT do not lock each other out.

The password is checked with no write transaction open: the attempt is counted in a short transaction of
its own, argon2 runs, and only then does a second short transaction record the outcome. So sign-ins never
hold SQLite's writer lock while argon2 runs, and top-ups and webhooks are never queued behind them. Both are
lean (hand-written SQL); on PostgreSQL each is one statement with no BEGIN and COMMIT.

A suspended card is refused (403 `card_suspended`) only after its right password, so the answer tells
nothing to whoever does not know the password.
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from roamcard.auth import attempts, repository
from roamcard.card import passwords
from roamcard.card.states import RECHARGEABLE
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError, TooManyRequests, Unauthorized
from roamcard.kit import clock
from roamcard.kit.ratelimit import FailureLimit
from roamcard.kit.sql import Tx
from roamcard.kit.tokens import hash_token
from roamcard.lifecycle import as_tx
from roamcard.models import Card


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    message = "The card number or service password is wrong."
    keeps_changes = True


class LoginLocked(TooManyRequests):
    code = "login_locked"
    message = "Too many wrong passwords. Try again in {minutes} minutes."
    keeps_changes = True


class CardSuspended(AppError):
    status_code = 403
    code = "card_suspended"
    message = "This card is suspended. Call customer service."


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "Your session has ended. Sign in again."


def client_limits(namespace: str, client_key: str, subject: str) -> list[tuple[FailureLimit, str]]:
    """Wrong passwords per (client, sign-in name), and the ceiling per client whatever the name
    (`ROAMCARD_LOGIN_IP_LIMIT`). Card and staff sign-ins each have their own `namespace`."""
    settings = get_settings()
    storage = settings.rate_limit_storage_url
    window = settings.login_ip_window_seconds
    return [
        (
            FailureLimit(f"{namespace}-ip-name", settings.login_ip_max_failures, window, storage),
            f"{client_key}|{subject}",
        ),
        (FailureLimit(f"{namespace}-ip", settings.login_ip_limit, window, storage), client_key),
    ]


def client_retry_after(limits: list[tuple[FailureLimit, str]]) -> int | None:
    for limit, key in limits:
        retry_after = limit.retry_after(key)
        if retry_after is not None:
            return retry_after
    return None


def record_client_failure(limits: list[tuple[FailureLimit, str]]) -> None:
    for limit, key in limits:
        limit.record_failure(key)


@dataclass(frozen=True)
class SignedInCard:
    """The card behind a bearer token or a right password, as the lean path reads it."""

    id: int
    card_number: str
    status: str
    phone: str
    language: str
    currency: str
    topup_held_at: datetime | None


# What the lean path reads of a card, then `card_of(tx, row)` (the row may carry more columns after).
CARD_COLUMNS = (
    "cards.id, cards.card_number, cards.status, cards.phone, cards.language, cards.currency, "
    "cards.topup_held_at"
)
# A session is live until it expires or is revoked; `card_sessions.token_hash` is unique (indexed).
LIVE_SESSION = (
    "card_sessions.token_hash = :token_hash AND card_sessions.expires_at > :now "
    "AND card_sessions.revoked_at IS NULL"
)
# Statements put together from these constants hold no input (hence the S608 waivers).
_LIVE_SESSION_CARD = (
    f"SELECT {CARD_COLUMNS} FROM card_sessions JOIN cards ON cards.id = card_sessions.card_id "  # noqa: S608
    f"WHERE {LIVE_SESSION}"
)


def card_of(tx: Tx, row: tuple[Any, ...]) -> SignedInCard:
    card_id, number, status, phone, language, currency, held_at = row[:7]
    return SignedInCard(card_id, number, status, phone, language, currency, tx.dt(held_at))


def live_session_params(token: str) -> dict[str, Any]:
    """The parameters of `LIVE_SESSION`."""
    return {"token_hash": hash_token(token), "now": clock.now()}


def signed_in_card(tx: Tx, token: str) -> SignedInCard:
    """`card_for_token` on the lean path, whatever the card's status (emergency help must reach it): one
    indexed read, never a write."""
    row = tx.one(_LIVE_SESSION_CARD, **live_session_params(token))
    if row is None:
        raise SessionExpired()
    return card_of(tx, row)


def require_active_card(card: SignedInCard) -> SignedInCard:
    """`require_active` for the lean path's card."""
    if card.status not in RECHARGEABLE:  # an expired card signs in and recharges during its grace
        raise CardSuspended()
    return card


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    card: SignedInCard


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of one attempt at a card's password."""

    card: SignedInCard | None  # the card when the password was right; None when wrong or unknown
    retry_after_seconds: int | None  # set when the number is locked (before, or by this wrong attempt)
    verified: bool  # False when the number was already locked and nothing was checked


_CARD_BY_NUMBER = f"SELECT {CARD_COLUMNS}, cards.password_hash FROM cards WHERE cards.card_number = :subject"  # noqa: S608
# PostgreSQL spends the attempt and reads the card in one statement (one round trip, no BEGIN/COMMIT).
# The lock's end is read in the statement's snapshot: a lock set by a parallel attempt just now is not
# seen there, and `attempts.outcome` counts it as a whole lock-out period.
_RESERVE_AND_READ_CARD = (
    f"WITH spent AS ({attempts.RESERVE}) "  # noqa: S608
    "SELECT (SELECT attempts FROM spent), (SELECT locked_until FROM sign_in_attempts "
    "WHERE scope = :scope AND subject = :subject), "
    f"{CARD_COLUMNS}, cards.password_hash FROM (SELECT 1) AS one "
    "LEFT JOIN cards ON cards.card_number = :subject"
)


def _one_statement(database: Database) -> AbstractContextManager[Tx]:
    """Where a unit of work of one statement runs: alone on PostgreSQL (no BEGIN and COMMIT round trips);
    in a write transaction on SQLite, which queues behind this process's writer lock."""
    return database.tx() if database.is_sqlite else database.autocommit()


def _spend_attempt(
    database: Database, card_number: str
) -> tuple[attempts.Reservation | attempts.Locked, tuple[SignedInCard, str] | None]:
    """One attempt of the number spent (committed at once), and the card with its password hash (None for
    an unknown number, and not read when the number is locked)."""
    settings = get_settings()
    limits = {"max_failures": settings.login_max_failures, "lockout_seconds": settings.login_lockout_seconds}
    if database.is_sqlite:
        with database.tx() as tx:
            spent = attempts.reserve(tx, attempts.CARD, card_number, **limits)
            if isinstance(spent, attempts.Locked):
                return spent, None
            row = tx.one(_CARD_BY_NUMBER, subject=card_number)
            return spent, None if row is None else (card_of(tx, row), row[7])
    with database.autocommit() as tx:
        row = tx.one(_RESERVE_AND_READ_CARD, **attempts.reserve_params(attempts.CARD, card_number, **limits))
        assert row is not None  # the statement selects from a one-row table
        spent = attempts.outcome(row[0], tx.dt(row[1]), **limits)
        return spent, None if row[2] is None else (card_of(tx, row[2:]), row[9])


def attempt_card_password(database: Database, card_number: str, password: str) -> PasswordCheck:
    """Spend one of the number's attempts (committed at once), then check the password with no
    transaction open: argon2 against the card's hash, or against a dummy hash for an unknown number, so
    both take the same time. Shared by sign-in, the password change and phone rebinding; the caller
    records a right password with `signed_in(db, card)` in its own write transaction."""
    spent, found = _spend_attempt(database, card_number)
    if isinstance(spent, attempts.Locked):
        return PasswordCheck(card=None, retry_after_seconds=spent.retry_after_seconds, verified=False)
    if found is None:
        passwords.burn_verification_time(password)
        right = False
    else:
        card, password_hash = found
        right = passwords.verify_password(password_hash, password)
    if right:
        return PasswordCheck(card=card, retry_after_seconds=None, verified=True)
    locked = get_settings().login_lockout_seconds if spent.last else None
    return PasswordCheck(card=None, retry_after_seconds=locked, verified=True)


def check_password(database: Database, *, card_number: str, password: str, client_key: str) -> SignedInCard:
    """Sign-in's check: the card behind a right password, or `LoginLocked` (429), `InvalidCredentials`
    (401, the same answer for an unknown number) or `CardSuspended` (403, only after the right password).
    `client_key` is the client IP (or, on the hotline, the call)."""
    limits = client_limits("login", client_key, card_number)
    retry_after = client_retry_after(limits)
    if retry_after is not None:
        raise LoginLocked(retry_after)
    checked = attempt_card_password(database, card_number, password)
    if checked.card is None:
        if checked.verified:
            record_client_failure(limits)
        if checked.retry_after_seconds is not None:
            raise LoginLocked(checked.retry_after_seconds)
        raise InvalidCredentials()
    card = checked.card
    if card.status not in RECHARGEABLE:  # an expired card signs in and recharges during its grace
        with _one_statement(database) as tx:
            signed_in(tx, card)
        raise CardSuspended()
    return card


def signed_in(db: Session | Tx, card: Card | SignedInCard) -> None:
    """Record a right password: the card number's failure count starts again."""
    attempts.clear(db, attempts.CARD, card.card_number)


_INSERT_SESSION = (
    "INSERT INTO card_sessions (token_hash, card_id, created_at, expires_at) "
    "VALUES (:token_hash, :card_id, :now, :expires_at)"
)
# PostgreSQL records the right password and opens the session in one statement.
_SIGNED_IN_WITH_SESSION = f"WITH cleared AS ({attempts.CLEAR}) {_INSERT_SESSION}"


def login(database: Database, *, card_number: str, password: str, client_ip: str) -> IssuedToken:
    """The request's whole use case (it commits): check the password, then issue a session token."""
    card = check_password(database, card_number=card_number, password=password, client_key=client_ip)
    now = clock.now()
    token = "rc_" + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=get_settings().session_ttl_seconds)
    opened = {"token_hash": hash_token(token), "card_id": card.id, "now": now, "expires_at": expires_at}
    with _one_statement(database) as tx:
        if tx.is_sqlite:
            signed_in(tx, card)
            tx.run(_INSERT_SESSION, **opened)
        else:
            tx.run(_SIGNED_IN_WITH_SESSION, scope=attempts.CARD, subject=card.card_number, **opened)
    return IssuedToken(token=token, expires_at=expires_at, card=card)


def open_session(db: Session | Tx, card_id: int) -> str:
    """A session for a card that proved itself another way than by its password: a new card's buyer, on
    the order page that shows the password once (card_order). Returns the token (only its hash is kept)."""
    tx = as_tx(db)
    now = clock.now()
    token = "rc_" + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=get_settings().session_ttl_seconds)
    tx.run(_INSERT_SESSION, token_hash=hash_token(token), card_id=card_id, now=now, expires_at=expires_at)
    return token


def card_for_token(session: Session, token: str) -> Card:
    """The card of a live session, whatever its status (emergency help must still reach it)."""
    card = repository.get_live_session_card(session, hash_token(token), clock.now())
    if card is None:
        raise SessionExpired()
    return card


def require_active(card: Card) -> Card:
    """Refuse a card that is not active (sign-in, settings, top-ups, refunds). Never used for emergency
    help: SOS, emergency contacts and emergency numbers must stay open to a suspended card."""
    if card.status not in RECHARGEABLE:  # an expired card signs in and recharges during its grace
        raise CardSuspended()
    return card


def logout(session: Session, token: str) -> None:
    repository.revoke(session, hash_token(token), clock.now())


def revoke_all_sessions(session: Session, card_id: int) -> int:
    """End every signed-in session of the card (a suspension); returns how many were live."""
    return repository.revoke_sessions(session, card_id, clock.now())
