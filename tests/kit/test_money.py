from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamcard.kit import luhn
from roamcard.kit.money import Money
from roamcard.kit.pagination import InvalidCursor, decode_cursor, encode_cursor


class TestMoney:
    def test_rejects_floats_and_bools(self) -> None:
        with pytest.raises(TypeError):
            Money(10.5, "USD")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Money(True, "USD")

    def test_arithmetic_refuses_mixed_currencies(self) -> None:
        assert Money(100, "USD") + Money(50, "USD") == Money(150, "USD")
        with pytest.raises(ValueError, match="currency mismatch"):
            Money(100, "USD") + Money(50, "CNY")

    @pytest.mark.parametrize(
        ("money", "language", "expected"),
        [
            (Money(1000, "USD"), "en", "$10.00"),
            (Money(7200, "CNY"), "zh-CN", "¥72.00"),
            (Money(123456, "USD"), "en", "$1,234.56"),
            (Money(7200, "CNY"), "en", "¥72.00"),
            (Money(1000, "USD"), "zh-CN", "$10.00"),
        ],
    )
    def test_formats_per_locale(self, money: Money, language: str, expected: str) -> None:
        assert money.format(language) == expected

    def test_parses_gateway_decimals_exactly(self) -> None:
        assert Money.from_decimal_string("72.00", "CNY") == Money(7200, "CNY")
        with pytest.raises(ValueError, match="precision"):
            Money.from_decimal_string("72.001", "CNY")

    @given(st.integers(min_value=0, max_value=10**12))
    def test_decimal_round_trip(self, amount: int) -> None:
        money = Money(amount, "USD")
        assert Money.from_decimal_string(str(money.as_decimal()), "USD") == money


class TestLuhn:
    @given(st.text(alphabet="0123456789", min_size=1, max_size=25))
    def test_check_digit_makes_any_payload_valid(self, payload: str) -> None:
        assert luhn.is_valid(payload + luhn.check_digit(payload))

    @given(st.text(alphabet="0123456789", min_size=5, max_size=25), st.data())
    def test_any_single_digit_change_is_caught(self, payload: str, data: st.DataObject) -> None:
        number = payload + luhn.check_digit(payload)
        index = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
        replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != number[index]]))
        assert not luhn.is_valid(number[:index] + replacement + number[index + 1 :])


class TestCursor:
    def test_round_trip(self) -> None:
        from datetime import UTC, datetime

        moment = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        assert decode_cursor(encode_cursor(moment, "top_abc")) == (moment, "top_abc")

    @pytest.mark.parametrize("cursor", ["", "not-base64!", "W10", "WyIyMDI2LTExLTI1IiwgMV0"])
    def test_garbage_is_rejected(self, cursor: str) -> None:
        with pytest.raises(InvalidCursor):
            decode_cursor(cursor)
