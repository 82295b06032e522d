"""Shared API shapes and validated field types (errors carry our own codes so they can be localised)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from roamcard.card import numbers
from roamcard.kit.money import Money


def _card_number(value: str) -> str:
    try:
        return numbers.normalise_card_number(value)
    except numbers.InvalidCardNumber as exc:
        raise PydanticCustomError("card_number_invalid", str(exc)) from None


def _password(value: str) -> str:
    try:
        return numbers.validate_password(value)
    except numbers.InvalidPassword as exc:
        raise PydanticCustomError("password_invalid", str(exc)) from None


def _phone(value: str) -> str:
    try:
        return numbers.normalise_phone(value)
    except numbers.InvalidPhone as exc:
        raise PydanticCustomError("phone_invalid", str(exc)) from None


def _login_password(value: str) -> str:
    if not value:
        raise PydanticCustomError("password_missing", "Enter the service password.")
    if len(value) > 64:
        raise PydanticCustomError("password_invalid", "The service password has 6 to 12 digits.")
    return value


CardNumber = Annotated[str, AfterValidator(_card_number)]
ServicePassword = Annotated[str, AfterValidator(_password)]
LoginPassword = Annotated[str, AfterValidator(_login_password)]
PhoneNumber = Annotated[str, AfterValidator(_phone)]


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
