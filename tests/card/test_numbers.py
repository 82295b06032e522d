from __future__ import annotations

import pytest

from roamcard.card import numbers


class TestCardNumber:
    def test_accepts_spaces_and_dashes_people_type(self) -> None:
        assert numbers.normalise_card_number("8910 3900 0000 0000 0015") == "89103900000000000015"
        assert numbers.normalise_card_number("8910-3900-0000-0000-0015") == "89103900000000000015"

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("89103900000000000016", "not valid"),  # Luhn
            ("8910390000000000", "19 or 20"),
            ("891039000000000000157", "19 or 20"),
            ("12103900000000000015", "starts with 89"),
            ("8910390000000000001A", "digits only"),
        ],
    )
    def test_rejects_bad_numbers(self, raw: str, reason: str) -> None:
        with pytest.raises(numbers.InvalidCardNumber, match=reason):
            numbers.normalise_card_number(raw)

    def test_new_numbers_are_valid_iccids(self) -> None:
        for _ in range(50):
            number = numbers.new_card_number()
            assert numbers.normalise_card_number(number) == number


class TestPassword:
    @pytest.mark.parametrize("raw", ["123456", "123456789012"])
    def test_six_to_twelve_digits(self, raw: str) -> None:
        assert numbers.validate_password(raw) == raw

    @pytest.mark.parametrize("raw", ["12345", "1234567890123", "12345a", "１２３４５６", ""])
    def test_rejects_others(self, raw: str) -> None:
        with pytest.raises(numbers.InvalidPassword):
            numbers.validate_password(raw)

    def test_issued_passwords_are_eight_digits(self) -> None:
        password = numbers.new_password()
        assert len(password) == 8
        assert password.isdigit()


class TestPhone:
    def test_normalises_to_e164(self) -> None:
        assert numbers.normalise_phone("+86 138 0013 8000") == "+8613800138000"
        assert numbers.normalise_phone("+1 (415) 555-0100") == "+14155550100"

    @pytest.mark.parametrize("raw", ["13800138000", "+86 123", "+999 1234567", "phone"])
    def test_rejects_non_e164(self, raw: str) -> None:
        with pytest.raises(numbers.InvalidPhone):
            numbers.normalise_phone(raw)

    def test_masks_for_display(self) -> None:
        assert numbers.mask_phone("+8613800138000") == "+86138****8000"
