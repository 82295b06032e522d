"""HTML forms: each a small pydantic model, validated with the API's own field types, so a Luhn-invalid card
number or an empty password gets the same words on the web as in the API — next to the field."""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from roamcard.card.numbers import CardNumber, LoginPassword
from roamcard.errors import AppError, ValidationFailed
from roamcard.i18n import gettext
from roamcard.kit.money import Money
from roamcard.portal.security import valid_timezone
from roamcard.validation import field_message

Model = TypeVar("Model", bound=BaseModel)


class FormInvalid(AppError):
    """One or more fields are wrong; `errors` maps a field name to its (translated) message."""

    status_code = 422
    code = "form_invalid"
    message = "Some fields are not valid."

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__()
        self.errors = errors


class OnField(AppError):
    """A service's error shown next to one field: same status, headers, code and `keeps_changes` (so a
    recorded outcome such as a wrong-PIN attempt is still committed), with its message on `field`."""

    def __init__(self, error: AppError, field: str) -> None:
        super().__init__(headers=error.headers)
        self.status_code = error.status_code
        self.code = error.code
        self.keeps_changes = error.keeps_changes
        self.error = error
        self.field = field

    def detail(self, language: str | None = None) -> str:
        return self.error.detail(language)


def on_field(error: AppError, field: str) -> AppError:
    """`error` as it is if it already names its fields, else its message placed next to `field`."""
    return error if field_errors(error) else OnField(error, field)


def field_errors(error: AppError) -> dict[str, str]:
    """The per-field messages an error carries, if any."""
    if isinstance(error, FormInvalid):
        return error.errors
    if isinstance(error, OnField):
        return {error.field: error.detail()}
    if isinstance(error, ValidationFailed):
        return {error.field: gettext(error.field_message, None, **error.field_params)}
    return {}


def parse(model: type[Model], data: dict[str, str]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            text = (
                gettext(error["msg"]) if error["type"] in PORTAL_ERROR_TYPES else field_message(dict(error))
            )
            errors.setdefault(name, text)
        raise FormInvalid(errors) from None


# Our own error types, whose message is a msgid.
PORTAL_ERROR_TYPES = {"choice_missing", "field_required", "field_mismatch", "timezone_unknown", "pin_missing"}


def _required(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("field_required", "This field is required.")
    return value


class Form(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=200, validate_default=True)


class LoginForm(Form):
    card_number: CardNumber
    password: LoginPassword
    next: str = ""


class RechargeChoice(Form):
    """What the user picked on the recharge page. `amount` is typed text (`25`, `25.50`), only for the
    custom-amount product; it is turned into minor units of the card's balance currency."""

    product_id: Annotated[str, Field(min_length=1, max_length=64)] = ""
    currency: Literal["USD", "CNY"]
    payment_method: Annotated[str, Field(min_length=1, max_length=20)] = ""
    amount: str = ""
    promo_code: Annotated[str, Field(max_length=64)] = ""

    @field_validator("product_id", mode="before")
    @classmethod
    def _product_chosen(cls, value: Any) -> Any:
        if not value:
            raise PydanticCustomError("choice_missing", "Choose what to recharge.")
        return value

    @field_validator("payment_method", mode="before")
    @classmethod
    def _method_chosen(cls, value: Any) -> Any:
        if not value:
            raise PydanticCustomError("choice_missing", "Choose how to pay.")
        return value


class RechargeConfirm(Form):
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    currency: Literal["USD", "CNY"]
    payment_method: Annotated[str, Field(min_length=1, max_length=20)]
    amount_minor: int | None = None
    form_id: Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    # The quote the confirmation step showed: the order is charged exactly it (or refused).
    quote_id: Annotated[str | None, Field(max_length=32, pattern=r"^quo_[A-Za-z0-9_-]+$")] = None

    @field_validator("amount_minor", "quote_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value


class _NewPasswordTwice(Form):
    """A new password typed twice (the password change and the reset)."""

    new_password: Annotated[str, Field(max_length=64)]
    confirm_password: Annotated[str, Field(max_length=64)]

    @field_validator("new_password", "confirm_password")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        return _required(value)

    @field_validator("confirm_password")
    @classmethod
    def _same_twice(cls, value: str, info: ValidationInfo) -> str:
        if value != info.data.get("new_password", value):
            raise PydanticCustomError("field_mismatch", "The two new passwords are not the same.")
        return value


class PasswordForm(_NewPasswordTwice):
    current_password: Annotated[str, Field(max_length=64)]

    @field_validator("current_password")
    @classmethod
    def _current_not_empty(cls, value: str) -> str:
        return _required(value)


class PhoneForm(Form):
    phone: Annotated[str, Field(max_length=32)]
    password: Annotated[str, Field(max_length=64)]  # the current one (the password form has that id)

    @field_validator("phone", "password")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        return _required(value)


class CloseCardForm(Form):
    current_password: Annotated[str, Field(max_length=64)]
    confirm: str = ""

    @field_validator("current_password")
    @classmethod
    def _password_given(cls, value: str) -> str:
        return _required(value)

    @field_validator("confirm")
    @classmethod
    def _confirmed(cls, value: str) -> str:
        if value != "yes":
            raise PydanticCustomError(
                "confirm_missing", "Tick the box to confirm that you want to close the card."
            )
        return value


class CodeForm(Form):
    code: Annotated[str, Field(max_length=12)]

    @field_validator("code")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        return _required(value)


class VoucherForm(Form):
    """A recharge card's PIN as typed: the voucher service reads the 16 digits (spaces and dashes allowed)."""

    pin: Annotated[str, Field(max_length=40)]

    @field_validator("pin", mode="before")
    @classmethod
    def _entered(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise PydanticCustomError("pin_missing", "Enter the 16-digit recharge PIN.")
        return value


class LanguageForm(Form):
    language: Literal["zh-CN", "en"]
    next: str = ""


class AlertsForm(Form):
    """The optional alerts' check boxes: a box not ticked is not sent, so each defaults to off."""

    pack_usage: bool = False
    low_balance: bool = False
    pack_expiry: bool = False
    new_country: bool = False


class TimezoneForm(Form):
    timezone: Annotated[str, Field(max_length=64)]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone = valid_timezone(value)
        if zone is None:
            raise PydanticCustomError("timezone_unknown", "Choose a time zone from the list.")
        return zone


def parse_amount(text: str, currency: str) -> int:
    """`25`, `25.5`, `$25.50`, `1,000` -> minor units. Raises FormInvalid on anything else."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("$¥￥").strip()
    if not cleaned:
        raise FormInvalid({"amount": gettext("Enter the amount to add to your balance.")})
    try:
        money = Money.from_decimal_string(cleaned, currency)
    except (ValueError, InvalidOperation, ArithmeticError):
        raise FormInvalid({"amount": gettext("Enter an amount like 25 or 25.50.")}) from None
    if money.amount <= 0:
        raise FormInvalid({"amount": gettext("Enter an amount like 25 or 25.50.")})
    return money.amount


# -- self-service password reset (issue 10) ----------------------------------------------------------
class ResetRequestForm(Form):
    card_number: CardNumber


class ResetConfirmForm(_NewPasswordTwice):
    card_number: CardNumber
    code: Annotated[str, Field(max_length=12)]

    @field_validator("code")
    @classmethod
    def _code_not_empty(cls, value: str) -> str:
        return _required(value)
