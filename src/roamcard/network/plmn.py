"""Who runs a visited network (PLMN): MCC-MNC to country and operator, from data shipped with the code.

`data/mcc.csv` and `data/mcc_mnc.csv` are derived from the ITU-T E.212 list (their headers name the source);
country names in English and Chinese come from the `phonenumbers` package's CLDR-derived locale data. Nothing
is fetched at run time. Update the CSVs by hand when an operator is renamed (docs/operations.md).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from phonenumbers.geodata.locale import LOCALE_DATA


@dataclass(frozen=True)
class Network:
    mcc: str
    mnc: str
    country: str | None  # ISO 3166-1 alpha-2, None for an MCC we do not know
    operator: str | None  # the brand; None for an MNC we do not know

    def country_name(self, language: str) -> str | None:
        """The country's name in "zh-CN" or "en" (None when the MCC is unknown)."""
        return country_name(self.country, language) if self.country else None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("roamcard.network").joinpath("data", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


@cache
def _countries() -> dict[str, str]:
    return {row["mcc"]: row["country"] for row in _rows("mcc.csv")}


@cache
def _operators() -> dict[tuple[str, int], tuple[str, str]]:
    # Keyed by the MNC's value: a network may report "260" or "0260"; "01" and "001" are the same code
    # within one MCC in practice (an MCC uses either 2- or 3-digit MNCs).
    return {(row["mcc"], int(row["mnc"])): (row["country"], row["operator"]) for row in _rows("mcc_mnc.csv")}


def _digits(value: str | int, width: int) -> str | None:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= len(text) <= 3:
        return None
    return text.zfill(width)


def lookup(mcc: str | int, mnc: str | int) -> Network:
    """The network of a PLMN id. Unknown parts are None; a malformed MCC or MNC gives a Network of Nones."""
    mcc_text = _digits(mcc, 3)
    mnc_text = _digits(mnc, 2)
    if mcc_text is None or mnc_text is None:
        return Network(str(mcc)[:3], str(mnc)[:3], None, None)
    known = _operators().get((mcc_text, int(mnc_text)))
    if known is not None:
        return Network(mcc_text, mnc_text, known[0], known[1])
    return Network(mcc_text, mnc_text, _countries().get(mcc_text), None)


def country_name(country: str, language: str) -> str:
    """The country's name in "zh-CN" or "en" (CLDR names, as `phonenumbers` ships them); else the code."""
    names = LOCALE_DATA.get(country.upper())
    if not names:
        return country
    key = "zh" if language.startswith("zh") else "en"
    name = names.get(key, "")
    for _ in range(5):  # "*xx": the same name as language xx
        if not name.startswith("*"):
            break
        name = names.get(name[1:], "")
    return name or country


def countries() -> list[str]:
    """Every country the MCC table knows, sorted by code."""
    return sorted(set(_countries().values()))
