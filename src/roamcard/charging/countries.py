"""Visited network → country: a small MCC table until the full MCC-MNC data ships (network status).

Only the mobile country code is needed to rate usage; the operator's name comes with the MCC-MNC table."""

from __future__ import annotations

# ITU-T E.212 mobile country codes of the countries the demo zones name (several MCCs for some).
MCC_COUNTRY: dict[str, str] = {
    "310": "US", "311": "US", "312": "US", "313": "US", "314": "US", "315": "US", "316": "US",
    "302": "CA", "334": "MX",
    "234": "GB", "235": "GB", "208": "FR", "262": "DE", "222": "IT", "214": "ES", "204": "NL",
    "228": "CH", "232": "AT", "268": "PT", "272": "IE", "206": "BE", "240": "SE", "242": "NO",
    "238": "DK", "244": "FI", "260": "PL", "202": "GR",
    "460": "CN", "461": "CN", "454": "HK", "455": "MO", "466": "TW", "440": "JP", "441": "JP",
    "450": "KR", "525": "SG", "520": "TH", "502": "MY", "505": "AU", "530": "NZ",
}  # fmt: skip


def country_of_mcc(mcc: str | None) -> str | None:
    return MCC_COUNTRY.get(mcc) if mcc else None
