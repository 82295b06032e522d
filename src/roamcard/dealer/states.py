from __future__ import annotations

from enum import StrEnum


class DealerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # its POS requests are refused; its float stays as it is


class SaleKind(StrEnum):
    TOPUP = "topup"  # a card topped up directly at the till
    VOUCHER = "voucher"  # a recharge card sold (activated) at the till
