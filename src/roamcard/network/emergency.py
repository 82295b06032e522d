"""Emergency numbers per country (`data/emergency_numbers.csv`, sources in its header) and the rule that
tells an emergency call from any other.

A called number is normalised before the check: a `tel:` URI prefix, visual separators (spaces, dashes,
dots, brackets) and a `;phone-context=…` parameter are dropped. A number written with `+` and a country code
("tel:+1911", "+44999") is NOT an emergency number: emergency numbers are short codes dialled without a
country code, and "+1911…" is an ordinary (if odd) international number that must be rated as one. So
"911", "tel:911" and "tel:9-1-1" are emergency numbers in the US; "tel:+1911" is not.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Answered as emergency calls on every GSM/3GPP network whatever the country (3GPP TS 22.101 §10.1.1).
UNIVERSAL = frozenset({"112", "911"})

_SEPARATORS = re.compile(r"[\s\-.()]")


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    service: str  # all, police, fire, ambulance, fire_ambulance, traffic, coast_guard, tourist_police


@cache
def _table() -> dict[str, tuple[EmergencyNumber, ...]]:
    text = resources.files("roamcard.network").joinpath("data", "emergency_numbers.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    table: dict[str, list[EmergencyNumber]] = {}
    for row in csv.DictReader(lines):
        table.setdefault(row["country"], []).append(EmergencyNumber(row["number"], row["service"]))
    return {country: tuple(numbers) for country, numbers in table.items()}


def numbers_for(country: str | None) -> tuple[EmergencyNumber, ...]:
    """The emergency numbers of a country (ISO 3166-1 alpha-2), the general one first. A country missing
    from the table gets 112 (which every mobile network answers)."""
    if country:
        known = _table().get(country.upper())
        if known:
            return known
    return (EmergencyNumber("112", "all"),)


def local_number(country: str | None) -> str:
    """The one number to tell a traveller in a sentence: the country's first (general) number."""
    return numbers_for(country)[0].number


def countries() -> list[str]:
    """Every country with its own entry, sorted by code."""
    return sorted(_table())


def normalise_called(called_number: str) -> str | None:
    """The dialled digits of a `calledPartyAddress` ("tel:911", "911", "tel:9-1-1;phone-context=+1"), or
    None when it is written with a country code ("tel:+1911") or holds anything but digits."""
    text = called_number.strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    text = text.split(";", 1)[0]
    text = _SEPARATORS.sub("", text)
    if not text.isdigit():  # "+…", letters, SIP URIs: not a short code
        return None
    return text


def is_emergency(country_code: str | None, called_number: str) -> bool:
    """True when `called_number` is an emergency number of the visited country `country_code` (ISO 3166-1
    alpha-2, from `plmn.lookup(...).country`; None when unknown), or 112/911 in any country. For the charging
    API: such a call is always granted and zero-rated, whatever the card's status or balance."""
    digits = normalise_called(called_number)
    if digits is None:
        return False
    if digits in UNIVERSAL:
        return True
    if not country_code:
        return False
    return any(entry.number == digits for entry in _table().get(country_code.upper(), ()))
