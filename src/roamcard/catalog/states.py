from __future__ import annotations

from enum import StrEnum


class ProductKind(StrEnum):
    BALANCE = "balance"
    DATA = "data"
    VOICE = "voice"
    BUNDLE = "bundle"
