"""Card numbers (ICCID), service passwords and phone numbers: parsing shared by API, portal and CLI."""

from __future__ import annotations

import secrets
from typing import Annotated

import phonenumbers
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from roamcard.kit import luhn

ICCID_PREFIX = "89"
# Roamcard's issuer prefix: 89 (telecom) + 1 (North America) + issuer digits.
ISSUER_PREFIX = "8910390"


class InvalidCardNumber(ValueError):
    pass


class InvalidPassword(ValueError):
    pass


class InvalidPhone(ValueError):
    pass


def normalise_card_number(raw: str) -> str:
    """Strip spaces and dashes people type; then 19–20 digits, `89…`, valid Luhn check digit."""
    digits = "".join(raw.split()).replace("-", "")
    if not digits.isdigit():
        raise InvalidCardNumber("The card number may contain digits only.")
    if not 19 <= len(digits) <= 20:
        raise InvalidCardNumber("The card number has 19 or 20 digits.")
    if not digits.startswith(ICCID_PREFIX):
        raise InvalidCardNumber("The card number starts with 89.")
    if not luhn.is_valid(digits):
        raise InvalidCardNumber("The card number is not valid. Check it for a typing mistake.")
    return digits


def new_card_number(serial: int | None = None) -> str:
    """A 20-digit ICCID: issuer prefix, 12-digit account number, Luhn check digit."""
    account = serial if serial is not None else secrets.randbelow(10**12)
    payload = f"{ISSUER_PREFIX}{account:012d}"
    return payload + luhn.check_digit(payload)


def validate_password(raw: str) -> str:
    if not raw.isdigit() or not raw.isascii():
        raise InvalidPassword("The service password may contain digits only.")
    if not 6 <= len(raw) <= 12:
        raise InvalidPassword("The service password has 6 to 12 digits.")
    return raw


def new_password() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(8))


def normalise_phone(raw: str) -> str:
    """E.164 (`+8613800138000`). A number without `+` is not accepted: its country would be a guess."""
    text = raw.strip()
    if not text.startswith("+"):
        raise InvalidPhone("Enter the phone number with its country code, e.g. +86 138 0013 8000.")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("This is not a valid phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("This is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(e164: str) -> str:
    """`+86 138****8000`: enough for its owner to recognise, not enough to call."""
    return e164[:-8] + "****" + e164[-4:] if len(e164) > 8 else "****"


# -- request field types (errors carry our own codes so they can be localised: validation.py) ---------
def _card_number(value: str) -> str:
    try:
        return normalise_card_number(value)
    except InvalidCardNumber as exc:
        raise PydanticCustomError("card_number_invalid", str(exc)) from None


def _password(value: str) -> str:
    try:
        return validate_password(value)
    except InvalidPassword as exc:
        raise PydanticCustomError("password_invalid", str(exc)) from None


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except InvalidPhone as exc:
        raise PydanticCustomError("phone_invalid", str(exc)) from None


def _login_password(value: str) -> str:
    if not value:
        raise PydanticCustomError("password_missing", "Enter the service password.")
    if len(value) > 64:
        raise PydanticCustomError("password_invalid", "The service password has 6 to 12 digits.")
    return value


CardNumber = Annotated[str, AfterValidator(_card_number)]
ServicePassword = Annotated[str, AfterValidator(_password)]
LoginPassword = Annotated[str, AfterValidator(_login_password)]
PhoneNumber = Annotated[str, AfterValidator(_phone)]
