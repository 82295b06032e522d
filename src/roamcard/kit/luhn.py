"""Luhn (mod 10) check digits, as used by ICCIDs."""

from __future__ import annotations


def checksum(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10


def is_valid(digits: str) -> bool:
    return digits.isdigit() and checksum(digits) == 0


def check_digit(payload: str) -> str:
    return str((10 - checksum(payload + "0")) % 10)
