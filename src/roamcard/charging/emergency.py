"""Which calls are emergency calls: always allowed, zero-rated, whatever the card's status or balance.

`is_emergency` is the one hook charging asks. For now it knows 112 and 911, which work anywhere; the
emergency service (per-country numbers, with sources) replaces its body with its data."""

from __future__ import annotations

ANYWHERE = frozenset({"112", "911"})


def dialled_digits(called_party_address: str | None) -> str | None:
    """`tel:911`, `tel:+1-202-555-0100` → the digits (and a leading +) the caller dialled."""
    if not called_party_address:
        return None
    value = called_party_address.strip()
    if value.lower().startswith("tel:"):
        value = value[4:]
    value = value.split(";", 1)[0]
    digits = "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return digits or None


def is_emergency(country_code: str | None, called_number: str | None) -> bool:
    """Whether `called_number` (digits as dialled, see `dialled_digits`) is an emergency number in the
    visited country `country_code` (ISO 3166 alpha-2, or None when unknown)."""
    del country_code  # every country's list comes with the emergency service's data
    return called_number is not None and called_number in ANYWHERE
