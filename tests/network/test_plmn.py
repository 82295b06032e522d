"""The shipped MCC-MNC table: country and operator of a visited network."""

from __future__ import annotations

import pytest

from roamcard.network import plmn


class TestLookup:
    @pytest.mark.parametrize(
        ("mcc", "mnc", "country", "operator"),
        [
            ("310", "260", "US", "T-Mobile"),
            ("311", "480", "US", "Verizon"),
            ("234", "15", "GB", "Vodafone"),
            ("460", "00", "CN", "China Mobile"),
            ("440", "10", "JP", "NTT docomo"),
            ("450", "05", "KR", "SK Telecom"),
            ("505", "01", "AU", "Telstra"),
            ("262", "01", "DE", "Telekom"),
        ],
    )
    def test_a_known_network_gives_its_country_and_operator(
        self, mcc: str, mnc: str, country: str, operator: str
    ) -> None:
        network = plmn.lookup(mcc, mnc)
        assert (network.country, network.operator) == (country, operator)

    def test_numbers_and_padding_are_the_same_code(self) -> None:
        assert plmn.lookup(460, 0) == plmn.lookup("460", "00")
        assert plmn.lookup("310", "0260").operator is None  # four digits is no MNC
        assert plmn.lookup("234", "015").operator == "Vodafone"

    def test_an_unknown_mnc_of_a_known_mcc_still_gives_the_country(self) -> None:
        network = plmn.lookup("316", "999")
        assert (network.country, network.operator) == ("US", None)

    def test_an_unknown_mcc_gives_nothing(self) -> None:
        assert (plmn.lookup("999", "99").country, plmn.lookup("999", "99").operator) == (None, None)

    def test_malformed_codes_give_nothing(self) -> None:
        network = plmn.lookup("3a0", "260")
        assert (network.country, network.operator) == (None, None)

    def test_every_mnc_row_belongs_to_the_country_of_its_mcc(self) -> None:
        for (mcc, _), (country, _) in plmn._operators().items():
            assert plmn._countries()[mcc] == country, mcc


class TestCountryNames:
    @pytest.mark.parametrize(
        ("country", "en", "zh"),
        [
            ("US", "United States", "美国"),
            ("CN", "China", "中国"),
            ("JP", "Japan", "日本"),
            ("HK", "Hong Kong", "香港"),
        ],
    )
    def test_names_in_both_languages(self, country: str, en: str, zh: str) -> None:
        assert plmn.country_name(country, "en") == en
        assert plmn.country_name(country, "zh-CN") == zh
        assert plmn.lookup("310", "260").country_name("zh-CN") == "美国"

    def test_an_unknown_country_is_its_code(self) -> None:
        assert plmn.country_name("XZ", "en") == "XZ"
