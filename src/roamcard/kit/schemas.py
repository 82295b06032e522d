"""Shared API shapes (domain-free: the card-number, password and phone field types are in card/numbers.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from roamcard.kit.money import Money


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MoneyOut(Schema):
    amount: int
    currency: str

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(amount=money.amount, currency=money.currency)


def money_out(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}
