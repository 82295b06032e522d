"""Self-service password reset ("忘记密码"): a 6-digit code to the bound phone, then the code and a new
password set it. The answers are the same whether or not the card exists; requests and wrong codes are
limited like sign-in; every session of the card ends after a reset and the bound phone is told.

Requests are limited per card number and per client IP (`request_limits`, and the phone's own per-number
SMS limit). Wrong codes are counted like sign-in's wrong passwords: an atomic per-number count in
`sign_in_attempts` (scope `password-reset`), reserved before the code is checked, so parallel guesses get
at most `WRONG_CODES_PER_CARD` checks, an unknown number is counted exactly like an issued one, and a right
code clears it; plus sign-in's per-(IP, number) and per-IP limits (`client_limits`, namespace
`password-reset`)."""

from __future__ import annotations

import math
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.auth import attempts
from roamcard.auth import repository as auth_repository
from roamcard.auth import service as auth_service
from roamcard.card import numbers, passwords, settings_repository
from roamcard.card import repository as card_repository
from roamcard.config import get_settings
from roamcard.db import get_database
from roamcard.errors import TooManyRequests, ValidationFailed
from roamcard.kit import clock
from roamcard.kit.ratelimit import FailureLimit
from roamcard.models import Card, PasswordReset
from roamcard.notification import service as notifications

CODE_DIGITS = 6
CODE_VALIDITY = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
REQUESTS_PER_CARD_PER_HOUR = 5
REQUESTS_PER_IP_PER_HOUR = 30
WRONG_CODES_PER_CARD = 5
WINDOW_SECONDS = 15 * 60  # how long a number stays locked after its last allowed wrong code
# The atomic per-number count of wrong codes (auth.attempts) and the per-client limits' namespace.
ATTEMPT_SCOPE = "password-reset"


class PasswordResetLimited(TooManyRequests):
    code = "password_reset_limited"
    message = "Too many password reset attempts. Try again in {minutes} minutes."


class PasswordResetCodeWrong(ValidationFailed):
    """One answer for a wrong code, an expired one, a used one and an unknown card: it tells nothing."""

    code = "password_reset_code_wrong"
    keeps_changes = True

    def __init__(self) -> None:
        super().__init__("code", "The card number or the code is wrong, or the code has expired.")


def request_limits() -> tuple[FailureLimit, FailureLimit]:
    url = get_settings().rate_limit_storage_url
    return (
        FailureLimit("password-reset-card", REQUESTS_PER_CARD_PER_HOUR, 3600, url),
        FailureLimit("password-reset-ip", REQUESTS_PER_IP_PER_HOUR, 3600, url),
    )


def _check(limits: tuple[FailureLimit, FailureLimit], card_key: str, ip: str) -> None:
    card_limit, ip_limit = limits
    waits = [w for w in (card_limit.retry_after(card_key), ip_limit.retry_after(ip)) if w is not None]
    if waits:
        raise PasswordResetLimited(max(waits))


def _code_hash(reset_id: int, code: str) -> str:
    return keys.mac("phone-code", f"password-reset:{reset_id}:{code}".encode())


def _code_matches(reset: PasswordReset, code: str) -> bool:
    # Under the key the hash names, so a code sent just before a key rotation still works during it.
    return keys.verify_mac("phone-code", f"password-reset:{reset.id}:{code}".encode(), reset.code_hash)


def _card_key(raw: str) -> str:
    try:
        return numbers.normalise_card_number(raw)
    except ValueError:
        return raw.strip()[:32]


def request_reset(session: Session, *, card_number: str, client_ip: str) -> None:
    """Send a code to the card's bound phone. Returns nothing either way: the caller answers the same."""
    card_key = _card_key(card_number)
    limits = request_limits()
    _check(limits, card_key, client_ip)
    for limit, key in zip(limits, (card_key, client_ip), strict=True):
        limit.record_failure(key)  # every request counts, found or not
    card = card_repository.get_by_card_number(session, card_key)
    if card is None or card.status != "active":
        return
    now = clock.now()
    session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.card_id == card.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    reset = PasswordReset(
        card_id=card.id, code_hash="", attempts=0, created_at=now, expires_at=now + CODE_VALIDITY
    )
    session.add(reset)
    session.flush()
    reset.code_hash = _code_hash(reset.id, code)
    try:
        notifications.queue_sms(
            session,
            card,
            "password_reset_code",
            key=f"password-reset-code:{reset.id}",
            code=code,
            card_tail=card.card_number[-4:],
            minutes=int(CODE_VALIDITY.total_seconds() // 60),
        )
    except notifications.SmsRateLimited:
        # The phone had its share of codes this hour: nothing is sent, and the answer stays the same.
        reset.superseded_at = now


def confirm_reset(
    session: Session, *, card_number: str, code: str, new_password: str, client_ip: str
) -> None:
    """Set the new password when the code matches; end every session; tell the bound phone."""
    try:
        new_password = numbers.validate_password(new_password)
    except numbers.InvalidPassword as exc:
        raise ValidationFailed("new_password", str(exc)) from None
    card_key = _card_key(card_number)
    limits = auth_service.client_limits(ATTEMPT_SCOPE, client_ip, card_key)
    retry_after = auth_service.client_retry_after(limits)
    if retry_after is not None:
        raise PasswordResetLimited(retry_after)
    # A locked number is refused before argon2 runs, in a read that leaves the request's session unopened.
    with get_database().reading() as reading:
        until = attempts.locked_until(reading, ATTEMPT_SCOPE, card_key)
    if until is not None:
        raise PasswordResetLimited(max(1, math.ceil((until - clock.now()).total_seconds())))
    # argon2 before the session's first statement, so no write transaction is open while it runs (the
    # session begins lazily); a wrong code wastes one hash, bounded by the limits just checked.
    new_hash = passwords.hash_password(new_password)
    # One attempt is spent (committed with the wrong-code answer, which keeps its changes) before the code
    # is looked at: the conditional UPDATE serialises parallel guesses on the number's row.
    spent = attempts.reserve(
        session, ATTEMPT_SCOPE, card_key, max_failures=WRONG_CODES_PER_CARD, lockout_seconds=WINDOW_SECONDS
    )
    if isinstance(spent, attempts.Locked):
        raise PasswordResetLimited(spent.retry_after_seconds)
    code = code.strip().replace(" ", "")
    card = card_repository.get_by_card_number(session, card_key)
    now = clock.now()
    reset = (
        session.scalars(
            select(PasswordReset)
            .where(
                PasswordReset.card_id == card.id,
                PasswordReset.used_at.is_(None),
                PasswordReset.superseded_at.is_(None),
            )
            .order_by(PasswordReset.id.desc())
            .with_for_update()
        ).first()
        if card is not None
        else None
    )
    wrong = (
        reset is None
        or reset.expires_at <= now
        or reset.attempts >= CODE_MAX_ATTEMPTS
        or not _code_matches(reset, code)
    )
    if wrong:
        auth_service.record_client_failure(limits)
        if reset is not None:
            session.execute(
                update(PasswordReset)
                .where(PasswordReset.id == reset.id)
                .values(attempts=PasswordReset.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        raise PasswordResetCodeWrong()
    assert card is not None
    assert reset is not None
    claimed = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PasswordResetCodeWrong()
    settings_repository.set_password_hash(session, card.id, new_hash)
    auth_repository.revoke_sessions(session, card.id, now)
    attempts.clear(session, ATTEMPT_SCOPE, card_key)
    attempts.clear(session, attempts.CARD, card.card_number)
    session.refresh(card)
    _tell_the_phone(session, card, reset.id)


def _tell_the_phone(session: Session, card: Card, reset_id: int) -> None:
    notifications.queue_sms(
        session,
        card,
        "password_reset_done",
        key=f"password-reset-done:{reset_id}",
        card_tail=card.card_number[-4:],
    )
