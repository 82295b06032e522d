"""What a card holder changes on their own card: the service password (current one required), the bound
phone (current password required, then proven by a 6-digit code sent by SMS to the new number), the
language of their messages and which optional alerts they get (`AlertPreferences`).

Services never commit, except the two that check the current password (`change_password`,
`start_phone_change`): they take the `Database`, because argon2 must run with no write transaction open
(auth.service.attempt_card_password), and commit their outcome in one short transaction. Wrong current
passwords spend the card number's sign-in attempts, so these forms are no way around the lock-out, and a
stolen session alone cannot move the bound phone. Wrong codes are recorded outcomes (`keeps_changes`), so
the try counter sticks even though the request fails.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.auth import repository as auth_repository
from roamcard.auth import service as auth_service
from roamcard.card import numbers, passwords
from roamcard.card import settings_repository as repository
from roamcard.db import Database
from roamcard.errors import AppError, TooManyRequests, ValidationFailed
from roamcard.i18n import LANGUAGES
from roamcard.kit import clock
from roamcard.kit.tokens import hash_token
from roamcard.models import Card, PhoneChange
from roamcard.notification import service as notifications

CODE_DIGITS = 6
CODE_VALIDITY = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
# Codes one card may request per hour (each is an SMS the operator pays for).
CODES_PER_HOUR = 5


class WrongCurrentPassword(ValidationFailed):
    code = "wrong_current_password"
    message = "The current service password is wrong."

    def __init__(self) -> None:
        super().__init__("current_password", "The current service password is wrong.")


class PasswordChangeLocked(TooManyRequests):
    code = "password_change_locked"
    message = "Too many wrong passwords. Try again in {minutes} minutes."


class PhoneCodeLimit(TooManyRequests):
    code = "phone_code_limit"
    message = "Too many codes requested. Try again in {minutes} minutes."


class PhoneCodeProblem(ValidationFailed):
    """A problem with the code the user typed, shown next to the code field."""

    code = "phone_code_invalid"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__("code", message, **params)


class PhoneCodeMissing(PhoneCodeProblem):
    code = "phone_code_missing"

    def __init__(self) -> None:
        super().__init__("There is no code waiting to be entered. Request a new code.")


class PhoneCodeExpired(PhoneCodeProblem):
    code = "phone_code_expired"

    def __init__(self) -> None:
        super().__init__("This code has expired. Request a new code.")


class PhoneCodeExhausted(PhoneCodeProblem):
    code = "phone_code_exhausted"
    keeps_changes = True

    def __init__(self) -> None:
        super().__init__("Too many wrong codes. Request a new code.")


class PhoneCodeWrong(PhoneCodeProblem):
    code = "phone_code_wrong"
    keeps_changes = True

    def __init__(self, tries_left: int) -> None:
        super().__init__("The code is wrong. {tries_left} tries left.", tries_left=tries_left)


class UnsupportedLanguage(AppError):
    status_code = 422
    code = "unsupported_language"
    message = "This language is not available."


def card_tail(card: Card) -> str:
    return card.card_number[-4:]


# -- service password ---------------------------------------------------------------------------------
def _check_current_password(database: Database, card: Card, password: str) -> None:
    """The card's own password, counted as a sign-in attempt on its number (no transaction open)."""
    checked = auth_service.attempt_card_password(database, card.card_number, password)
    if checked.retry_after_seconds is not None:
        raise PasswordChangeLocked(checked.retry_after_seconds)
    if checked.card is None or checked.card.id != card.id:
        raise WrongCurrentPassword()


def check_current_password(database: Database, card: Card, password: str) -> None:
    """Proof that the holder is asking (closing the card): the same counted check as a password change."""
    _check_current_password(database, card, password)


def change_password(
    database: Database, card: Card, *, current_password: str, new_password: str, keep_token: str | None = None
) -> None:
    """Check the current password, set the new one, end every other signed-in session, tell the bound phone.
    Commits (see the module's docstring)."""
    try:
        new_password = numbers.validate_password(new_password)
    except numbers.InvalidPassword as exc:
        raise ValidationFailed("new_password", str(exc)) from None
    _check_current_password(database, card, current_password)
    if new_password == current_password:
        raise ValidationFailed("new_password", "Choose a password different from the current one.")
    new_hash = passwords.hash_password(new_password)  # argon2 again: before the write transaction
    with database.transaction() as session:
        now = clock.now()
        auth_service.signed_in(session, card)
        repository.set_password_hash(session, card.id, new_hash)
        auth_repository.revoke_sessions(
            session, card.id, now, keep_token_hash=hash_token(keep_token) if keep_token else None
        )
        notifications.queue_sms(
            session,
            card,
            "password_changed",
            key=f"password-changed:{card.id}:{now.isoformat()}",
            card_tail=card_tail(card),
        )


# -- language ---------------------------------------------------------------------------------------
def set_language(session: Session, card: Card, language: str) -> None:
    """The language of the card's SMS and, once picked, of the portal."""
    if language not in LANGUAGES:
        raise UnsupportedLanguage()
    if card.language != language:
        repository.set_language(session, card.id, language)
        session.refresh(card)


# -- alerts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertPreferences:
    """The optional SMS a card holder may switch off (all on by default; charging/service/alerts.py and
    the new-country welcome in network/service.py read them). Emergency messages (SOS to the contacts,
    the emergency service itself) are never optional and have no switch."""

    pack_usage: bool = True  # 80 % and 100 % of a pack used
    low_balance: bool = True  # the balance fell below the currency's threshold
    pack_expiry: bool = True  # 3 days and 1 day before a pack expires
    new_country: bool = True  # the welcome SMS on the first network in a new country


def alert_preferences(session: Session, card_id: int) -> AlertPreferences:
    switches = repository.get_alert_switches(session, card_id)
    return AlertPreferences(*switches) if switches is not None else AlertPreferences()


def set_alert_preferences(session: Session, card_id: int, preferences: AlertPreferences) -> AlertPreferences:
    repository.set_alert_switches(
        session,
        card_id,
        pack_usage=preferences.pack_usage,
        low_balance=preferences.low_balance,
        pack_expiry=preferences.pack_expiry,
        new_country=preferences.new_country,
    )
    return preferences


# -- bound phone ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingPhoneChange:
    new_phone: str
    expires_at: datetime
    tries_left: int


def _code_hash(change_card_id: int, code: str) -> str:
    """Keyed (the "phone-code" purpose key, with its id), so a leaked table does not give up a
    million-guess code, and a code sent just before a key rotation still works during it."""
    return keys.mac("phone-code", f"phone-change:{change_card_id}:{code}".encode())


def _code_matches(code_hash: str, change_card_id: int, code: str) -> bool:
    return keys.verify_mac("phone-code", f"phone-change:{change_card_id}:{code}".encode(), code_hash)


def start_phone_change(
    database: Database, card: Card, *, new_phone: str, current_password: str
) -> PhoneChange:
    """Check the current password, then send a fresh code to the new number; any earlier code stops
    working. Commits (see the module's docstring)."""
    try:
        phone = numbers.normalise_phone(new_phone)
    except numbers.InvalidPhone as exc:
        raise ValidationFailed("phone", str(exc)) from None
    if phone == card.phone:
        raise ValidationFailed("phone", "This number is already bound to your card.")
    _check_current_password(database, card, current_password)
    with database.transaction() as session:
        auth_service.signed_in(session, card)
        return _send_phone_code(session, card, phone)


def _send_phone_code(session: Session, card: Card, phone: str) -> PhoneChange:
    now = clock.now()
    if repository.count_phone_changes_since(session, card.id, now - timedelta(hours=1)) >= CODES_PER_HOUR:
        raise PhoneCodeLimit(3600)
    repository.supersede_open_phone_changes(session, card.id, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    change = PhoneChange(
        card_id=card.id,
        new_phone=phone,
        code_hash=_code_hash(card.id, code),
        attempts=0,
        created_at=now,
        expires_at=now + CODE_VALIDITY,
    )
    session.add(change)
    session.flush()
    notifications.queue_sms(
        session,
        card,
        "phone_change_code",
        key=f"phone-change:{change.id}",
        to_phone=phone,
        code=code,
        card_tail=card_tail(card),
        minutes=int(CODE_VALIDITY.total_seconds() // 60),
    )
    return change


def pending_phone_change(session: Session, card: Card) -> PendingPhoneChange | None:
    change = repository.get_open_phone_change(session, card.id)
    if change is None or change.expires_at <= clock.now() or change.attempts >= CODE_MAX_ATTEMPTS:
        return None
    return PendingPhoneChange(
        new_phone=change.new_phone,
        expires_at=change.expires_at,
        tries_left=CODE_MAX_ATTEMPTS - change.attempts,
    )


def confirm_phone_change(session: Session, card: Card, *, code: str) -> str:
    """Bind the new number when the code matches. Returns the new number (E.164)."""
    code = code.strip().replace(" ", "")
    if len(code) != CODE_DIGITS or not code.isdigit() or not code.isascii():
        raise PhoneCodeProblem("Enter the 6-digit code from the SMS.")
    change = repository.get_open_phone_change(session, card.id)
    now = clock.now()
    if change is None:
        raise PhoneCodeMissing()
    if change.attempts >= CODE_MAX_ATTEMPTS:
        raise PhoneCodeExhausted()
    if change.expires_at <= now:
        raise PhoneCodeExpired()
    if not _code_matches(change.code_hash, card.id, code):
        used = repository.count_wrong_code(session, change.id, CODE_MAX_ATTEMPTS)
        if used is None or used >= CODE_MAX_ATTEMPTS:
            raise PhoneCodeExhausted()
        raise PhoneCodeWrong(CODE_MAX_ATTEMPTS - used)
    if not repository.mark_phone_change_confirmed(session, change.id, CODE_MAX_ATTEMPTS, now):
        raise PhoneCodeMissing()  # a concurrent confirmation or a newer request won
    old_phone = card.phone
    repository.set_phone(session, card.id, change.new_phone)
    session.refresh(card)
    notifications.queue_sms(
        session,
        card,
        "phone_changed",
        key=f"phone-changed:{change.id}",
        to_phone=old_phone,
        card_tail=card_tail(card),
        phone=numbers.mask_phone(change.new_phone),
    )
    return change.new_phone
