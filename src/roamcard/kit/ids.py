"""Public ids carry a prefix (`top_…`, `pay_…`) and are random, not guessable."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    # One draw from the OS for the whole id (a `secrets.choice` per character is a system call each:
    # ~20x the cost), written in base 36; every character is still uniform and independent.
    number = secrets.randbelow(36**length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        characters.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(characters)
