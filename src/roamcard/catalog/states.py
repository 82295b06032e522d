from __future__ import annotations

from enum import StrEnum


class ProductKind(StrEnum):
    BALANCE = "balance"
    DATA = "data"
    VOICE = "voice"
    BUNDLE = "bundle"
    # A new travel card with its first balance and/or packs: sold only by a card order, never as a top-up.
    STARTER = "starter"
