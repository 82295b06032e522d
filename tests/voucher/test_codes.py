from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from roamcard.voucher import codes


class TestPins:
    def test_many_pins_are_sixteen_distinct_digits(self) -> None:
        pins = codes.new_pins(5000)
        assert len(pins) == 5000
        assert all(len(p) == 16 and p.isdigit() for p in pins)
        assert len(set(pins)) == 5000

    def test_draws_that_would_bias_the_pins_are_thrown_away(self, monkeypatch: pytest.MonkeyPatch) -> None:
        reads: Iterator[list[int]] = iter([[2**64 - 1, 5], [7]])

        def token_bytes(size: int) -> bytes:
            values = next(reads)
            assert size == 8 * len(values)
            return b"".join(struct.pack("<Q", v) for v in values)

        monkeypatch.setattr(codes.secrets, "token_bytes", token_bytes)
        assert codes.new_pins(2) == ["0000000000000005", "0000000000000007"]

    def test_the_hash_is_keyed_by_the_pepper(self) -> None:
        pin = "1234567890123456"
        assert codes.pin_hasher(b"one")(pin) != codes.pin_hasher(b"two")(pin)
        assert codes.pin_hasher(b"one")(pin) == codes.pin_hasher(b"one")(pin)
        assert len(codes.hash_pin(pin)) == 32

    @pytest.mark.parametrize(
        ("typed", "pin"),
        [
            ("1234567890123456", "1234567890123456"),
            (" 1234 5678 9012 3456 ", "1234567890123456"),
            ("1234-5678-9012-3456", "1234567890123456"),
            ("123456789012345", None),
            ("12345678901234567", None),
            ("1234 5678 9012 345x", None),
            ("１２３４５６７８９０１２３４５６", None),  # full-width digits are not ASCII
        ],
    )
    def test_what_people_type_is_read_as_a_pin(self, typed: str, pin: str | None) -> None:
        assert codes.normalise_pin(typed) == pin


class TestSerials:
    def test_serials_are_fixed_width_and_ordered_within_a_batch(self) -> None:
        assert codes.serial(1, 1) == "10000100000001"
        assert codes.serial(1, 42) < codes.serial(1, 100) < codes.serial(2, 1)

    @pytest.mark.parametrize(
        ("text", "parsed"),
        [
            ("10000100000001-10000100000009", ("10000100000001", "10000100000009")),
            ("10000100000005", ("10000100000005", "10000100000005")),
            ("10000100000005-", ("10000100000005", "10000100000005")),
        ],
    )
    def test_ranges(self, text: str, parsed: tuple[str, str]) -> None:
        assert codes.parse_serial_range(text) == parsed

    @pytest.mark.parametrize("text", ["1-9", "10000100000009-10000100000001", "abc", "-10000100000001"])
    def test_bad_ranges(self, text: str) -> None:
        with pytest.raises(ValueError, match="serial"):
            codes.parse_serial_range(text)
