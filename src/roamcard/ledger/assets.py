"""Assets the ledger moves: currencies and units."""

from __future__ import annotations

from enum import StrEnum


class Asset(StrEnum):
    USD = "USD"
    CNY = "CNY"
    DATA_BYTES = "DATA_BYTES"
    VOICE_SECONDS = "VOICE_SECONDS"
    SMS = "SMS"


CURRENCY_ASSETS = frozenset({Asset.USD, Asset.CNY})
UNIT_ASSETS = frozenset({Asset.DATA_BYTES, Asset.VOICE_SECONDS, Asset.SMS})

# What the API calls each allowance.
ALLOWANCE_KIND = {Asset.DATA_BYTES: "data", Asset.VOICE_SECONDS: "voice", Asset.SMS: "sms"}


class AccountKind(StrEnum):
    WALLET = "wallet"
    ALLOWANCE = "allowance"
    OPERATOR = "operator"
    # A dealer's prepaid float: cached balance, never below zero (dealer/service.py).
    DEALER_FLOAT = "dealer_float"


def operator_code(purpose: str, asset: str) -> str:
    """Operator-side accounts: `issued` (value given to cards), `sales` (money taken), `gateway:<p>`
    (clearing with a payment provider), `usage`, `expired` (breakage)."""
    return f"operator:{purpose}:{asset}"
