"""Card sign-in with the card number and service password.

Lock-outs: five wrong passwords lock a card for 15 minutes; failures are also limited per client IP.
A wrong card number and a wrong password get the same answer. Failure counters are recorded outcomes:
they are kept even though the request fails (`keeps_changes`).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from roamcard.auth import repository
from roamcard.card import passwords
from roamcard.card import repository as card_repository
from roamcard.config import get_settings
from roamcard.errors import AppError, TooManyRequests, Unauthorized
from roamcard.kit import clock
from roamcard.kit.ratelimit import FailureLimit
from roamcard.kit.tokens import hash_token
from roamcard.models import Card, CardSession


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    message = "The card number or service password is wrong."
    keeps_changes = True


class LoginLocked(TooManyRequests):
    code = "login_locked"
    message = "Too many wrong passwords. Try again in {minutes} minutes."
    keeps_changes = True


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "Your session has ended. Sign in again."


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    card: Card


def ip_failure_limit() -> FailureLimit:
    settings = get_settings()
    return FailureLimit(
        "login-ip",
        settings.login_ip_max_failures,
        settings.login_ip_window_seconds,
        settings.rate_limit_storage_url,
    )


def login(session: Session, *, card_number: str, password: str, client_ip: str) -> IssuedToken:
    settings = get_settings()
    ip_limit = ip_failure_limit()
    retry_after = ip_limit.retry_after(client_ip)
    if retry_after is not None:
        raise LoginLocked(retry_after)

    now = clock.now()
    card = card_repository.get_by_card_number(session, card_number)
    if card is None:
        passwords.burn_verification_time(password)
        ip_limit.record_failure(client_ip)
        raise InvalidCredentials()
    if card.locked_until and card.locked_until > now:
        raise LoginLocked(math.ceil((card.locked_until - now).total_seconds()))
    if not passwords.verify_password(card.password_hash, password):
        ip_limit.record_failure(client_ip)
        locks_at = card.failed_logins + 1 >= settings.login_max_failures
        card_repository.record_failed_login(
            session,
            card.id,
            settings.login_max_failures,
            now + timedelta(seconds=settings.login_lockout_seconds),
        )
        if locks_at:
            raise LoginLocked(settings.login_lockout_seconds)
        raise InvalidCredentials()

    if card.failed_logins or card.locked_until:
        card_repository.clear_failed_logins(session, card.id)
    return issue_token(session, card)


def issue_token(session: Session, card: Card) -> IssuedToken:
    now = clock.now()
    token = "rc_" + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=get_settings().session_ttl_seconds)
    session.add(
        CardSession(token_hash=hash_token(token), card_id=card.id, created_at=now, expires_at=expires_at)
    )
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, card=card)


def card_for_token(session: Session, token: str) -> Card:
    card = repository.get_live_session_card(session, hash_token(token), clock.now())
    if card is None:
        raise SessionExpired()
    return card


def logout(session: Session, token: str) -> None:
    repository.revoke(session, hash_token(token), clock.now())
