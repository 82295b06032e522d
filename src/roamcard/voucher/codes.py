"""Serial numbers and PINs.

A serial is public: 14 digits, the batch's 6-digit number then an 8-digit sequence (1, 2, ... within the
batch), so string order is numeric order and a range of serials is a range of primary keys. A PIN is
secret: 16 digits from `secrets`, printed once into the batch's CSV and stored only as HMAC-SHA256 under
ROAMCARD_VOUCHER_PEPPER, so a stolen database does not yield PINs (the pepper lives elsewhere) and a
PIN is found by its hash with one index lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable

from roamcard.config import get_settings

PIN_DIGITS = 16
_PIN_SPACE = 10**PIN_DIGITS
SEQUENCE_DIGITS = 8
MAX_BATCH_COUNT = 10**SEQUENCE_DIGITS - 1
BATCH_NUMBER_BASE = 100_000  # batch numbers have 6 digits: 100001, 100002, ...
SERIAL_DIGITS = 6 + SEQUENCE_DIGITS


# The largest multiple of 10^16 below 2^64: a 64-bit draw under it, modulo 10^16, is uniform.
_UNBIASED_LIMIT = (2**64 // _PIN_SPACE) * _PIN_SPACE


def new_pin() -> str:
    return f"{secrets.randbelow(_PIN_SPACE):0{PIN_DIGITS}d}"


def new_pins(count: int) -> list[str]:
    """`count` PINs from one read of `secrets` (a syscall per PIN costs more than the rest of a PIN)."""
    pins: list[str] = []
    while len(pins) < count:
        for (value,) in struct.iter_unpack("<Q", secrets.token_bytes(8 * (count - len(pins)))):
            if value < _UNBIASED_LIMIT:  # rejected about once in 2,800 draws
                pins.append(f"{value % _PIN_SPACE:0{PIN_DIGITS}d}")
    return pins


def pin_hasher(pepper: bytes | None = None) -> Callable[[str], bytes]:
    """HMAC-SHA256 under the pepper, read once (one-shot C implementation per PIN)."""
    key = pepper if pepper is not None else get_settings().voucher_pepper.get_secret_value().encode()

    def hash_pin(pin: str) -> bytes:
        return hmac.digest(key, pin.encode(), hashlib.sha256)

    return hash_pin


def hash_pin(pin: str) -> bytes:
    return pin_hasher()(pin)


def normalise_pin(raw: str) -> str | None:
    """The 16 digits people type, with the spaces or dashes printed between groups; None if not a PIN."""
    digits = "".join(raw.split()).replace("-", "")
    if len(digits) != PIN_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def batch_number(batch_id: int) -> int:
    return BATCH_NUMBER_BASE + batch_id


def serial(batch_id: int, sequence: int) -> str:
    return f"{batch_number(batch_id)}{sequence:0{SEQUENCE_DIGITS}d}"


def is_serial(text: str) -> bool:
    return len(text) == SERIAL_DIGITS and text.isascii() and text.isdigit()


def parse_serial_range(text: str) -> tuple[str, str]:
    """`A-B` or a single serial `A`; raises ValueError with a message for the operator."""
    first, _, last = text.strip().partition("-")
    first, last = first.strip(), (last.strip() or first.strip())
    if not (is_serial(first) and is_serial(last)):
        raise ValueError(f"serials have {SERIAL_DIGITS} digits: give A-B or one serial")
    if first > last:
        raise ValueError("the first serial of a range must not be after the last")
    return first, last
