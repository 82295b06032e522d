from __future__ import annotations

import pytest
from pydantic import SecretStr

from roamcard.config import get_settings
from roamcard.notification import checks
from roamcard.notification.service import render
from roamcard.notification.sms import DATA_CODING_GSM, DATA_CODING_UCS2, encode, segments


class TestSegments:
    @pytest.mark.parametrize(("length", "parts"), [(160, 1), (161, 2), (306, 2), (307, 3)])
    def test_gsm_texts_are_160_alone_and_153_per_part(self, length: int, parts: int) -> None:
        assert segments("a" * length) == parts

    @pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
    def test_chinese_texts_are_70_alone_and_67_per_part(self, length: int, parts: int) -> None:
        assert segments("远" * length) == parts

    def test_a_gsm_escape_counts_twice_and_is_never_split(self) -> None:
        assert segments("€" * 80) == 1
        encoded = encode("a" * 152 + "€" + "b" * 10)
        assert encoded.data_coding == DATA_CODING_GSM
        assert encoded.parts[0][6:] == b"a" * 152  # the escape pair moved whole to the next part
        assert encoded.parts[1][6:8] == b"\x1b\x65"

    def test_a_surrogate_pair_is_never_split(self) -> None:
        encoded = encode("远" * 66 + "😀" + "远" * 3)  # 71 UTF-16 units: two parts
        assert encoded.data_coding == DATA_CODING_UCS2
        assert len(encoded.parts) == 2
        assert encoded.parts[1][6:].decode("utf-16-be") == "😀远远远"

    def test_parts_carry_the_concatenation_header(self) -> None:
        encoded = encode("a" * 200, reference=7)
        assert [p[:6] for p in encoded.parts] == [b"\x05\x00\x03\x07\x02\x01", b"\x05\x00\x03\x07\x02\x02"]
        assert encoded.esm_class == 0x40


class TestTexts:
    def test_the_operators_brand_opens_every_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(get_settings(), "brand_name_zh", "漫游宝")
        monkeypatch.setattr(get_settings(), "brand_name_en", "Wanderly")
        assert render("password_changed", "zh-CN", card_tail="1234").startswith("【漫游宝】")
        assert render("password_changed", "en", card_tail="1234").startswith("[Wanderly] ")

    def test_the_link_and_the_validity_are_separated_by_a_space(self) -> None:
        for language in ("zh-CN", "en"):
            text = render(
                "payment_link",
                language,
                card_tail="1234",
                product="10 USD",
                price="$10.00",
                url="https://r.example/pay/link/abc",
                minutes=30,
            )
            assert "https://r.example/pay/link/abc " in text

    def test_every_template_with_ordinary_values_is_one_chinese_part(self) -> None:
        text = render("password_reset_code", "zh-CN", card_tail="1234", code="123456", minutes=10)
        assert segments(text) == 1


class TestProductionFailsClosed:
    def _production(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(get_settings(), "environment", "production")

    def test_a_route_to_console_is_a_start_up_error_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._production(monkeypatch)
        with pytest.raises(checks.SmsMisconfigured, match="ROAMCARD_SMS_ROUTES"):
            checks.check_sms_settings(get_settings())

    def test_an_unset_brand_is_a_start_up_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._production(monkeypatch)
        monkeypatch.setattr(get_settings(), "sms_routes", "*=twilio")
        monkeypatch.setattr(get_settings(), "twilio_account_sid", "AC1")
        monkeypatch.setattr(get_settings(), "twilio_from_number", "+14155550100")
        monkeypatch.setattr(get_settings(), "twilio_auth_token", SecretStr("a-real-token-0123456789"))
        with pytest.raises(checks.SmsMisconfigured, match="ROAMCARD_BRAND_NAME_ZH"):
            checks.check_sms_settings(get_settings())
        monkeypatch.setattr(get_settings(), "brand_name_zh", "远游卡")
        monkeypatch.setattr(get_settings(), "brand_name_en", "Roamcard")
        checks.check_sms_settings(get_settings())

    def test_allow_console_lets_a_staging_copy_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._production(monkeypatch)
        monkeypatch.setattr(get_settings(), "sms_allow_console", True)
        checks.check_sms_settings(get_settings())

    def test_the_app_does_not_start_on_a_bad_route(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from roamcard.app import create_app

        monkeypatch.setattr(get_settings(), "sms_routes", "+86=nexmo")
        with pytest.raises(checks.SmsMisconfigured, match="nexmo"):
            create_app(get_settings())

    def test_tests_and_development_may_use_console(self) -> None:
        assert checks.problems(get_settings()) == []
