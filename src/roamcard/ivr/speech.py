"""Amounts and dates worded to be spoken: `10.5美元` rather than `US$10.50` in Chinese, `$10.50` in
English, `2026年12月25日` / `December 25, 2026` in the operator's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal, get_currency_name

from roamcard.config import get_settings
from roamcard.kit.money import BABEL_LOCALES, Money
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.ledger.formatting import describe_amount

SAY_LANGUAGES = {"zh-CN": "cmn-CN", "en": "en-US"}


def money(value: Money, language: str) -> str:
    if language == "zh-CN":
        locale = BABEL_LOCALES[language]
        number = format_decimal(value.as_decimal().normalize(), locale=locale)
        return f"{number}{get_currency_name(value.currency, locale=locale)}"
    return value.format(language)


def amount(asset: str, quantity: int, language: str) -> str:
    """A balance in money words, a pack in `5 GB data` / `100 minutes of calls` words."""
    if asset in CURRENCY_ASSETS:
        return money(Money(quantity, asset), language)
    return describe_amount(asset, quantity, language)


def date(moment: datetime, language: str) -> str:
    local = moment.astimezone(ZoneInfo(get_settings().default_timezone)).date()
    return str(format_date(local, format="long", locale=BABEL_LOCALES.get(language, "en_US")))


def money_of(amount_minor: int, currency: str, language: str) -> str:
    return money(Money(amount_minor, currency), language)


def digits(number: str) -> str:
    """A short number said digit by digit ("9 1 1", not "nine hundred and eleven")."""
    return " ".join(number)
