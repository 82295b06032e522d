"""Emergency numbers per country and the rule that tells an emergency call from any other."""

from __future__ import annotations

import pytest

from roamcard.network import emergency

EU = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
]


class TestNumbersFor:
    @pytest.mark.parametrize(
        ("country", "expected"),
        [
            ("US", {"911"}),
            ("CA", {"911"}),
            ("GB", {"999", "112"}),
            ("CN", {"110", "119", "120", "122"}),
            ("JP", {"110", "119"}),
            ("KR", {"112", "119"}),
            ("AU", {"000", "112"}),
        ],
    )
    def test_the_required_numbers_are_in_the_table(self, country: str, expected: set[str]) -> None:
        assert expected <= {entry.number for entry in emergency.numbers_for(country)}

    @pytest.mark.parametrize("country", EU)
    def test_every_eu_country_has_112(self, country: str) -> None:
        assert "112" in {entry.number for entry in emergency.numbers_for(country)}

    def test_a_country_missing_from_the_table_gets_112(self) -> None:
        assert [entry.number for entry in emergency.numbers_for("XZ")] == ["112"]
        assert emergency.local_number(None) == "112"

    def test_the_local_number_is_the_first_entry(self) -> None:
        assert emergency.local_number("GB") == "999"
        assert emergency.local_number("AU") == "000"
        assert emergency.local_number("cn") == "110"


class TestIsEmergency:
    @pytest.mark.parametrize(
        ("country", "called"),
        [
            ("US", "tel:911"),
            ("US", "911"),
            ("CA", "tel:9-1-1"),
            ("GB", "tel:999"),
            ("GB", "112"),
            ("CN", "tel:120"),
            ("CN", "tel:122"),
            ("JP", "tel:110"),
            ("JP", "119"),
            ("KR", "tel:119"),
            ("AU", "tel:000"),
            ("DE", "tel:110"),
            ("FR", "tel:112;phone-context=+33"),
        ],
    )
    def test_a_number_of_the_visited_country_is_an_emergency(self, country: str, called: str) -> None:
        assert emergency.is_emergency(country, called)

    @pytest.mark.parametrize("country", ["US", "CN", "JP", "TH", None])
    def test_112_and_911_are_emergencies_anywhere(self, country: str | None) -> None:
        assert emergency.is_emergency(country, "tel:112")
        assert emergency.is_emergency(country, "911")

    @pytest.mark.parametrize(
        ("country", "called"),
        [
            ("US", "tel:999"),  # the UK's number in the US
            ("CN", "tel:000"),
            ("AU", "tel:110"),
            (None, "tel:110"),  # unknown country: only 112/911
            ("US", "tel:+1911"),  # an international number, rated as one
            ("US", "+911"),
            ("US", "tel:+12025550123"),
            ("US", "tel:9110"),
            ("US", "sip:911@example.com"),
            ("US", ""),
        ],
    )
    def test_anything_else_is_not(self, country: str | None, called: str) -> None:
        assert not emergency.is_emergency(country, called)
