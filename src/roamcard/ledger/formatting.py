"""Human wording of asset amounts: `5 GB`, `100 minutes`, `$10.00`, in the user's language."""

from __future__ import annotations

from babel.numbers import format_decimal

from roamcard.i18n import gettext
from roamcard.kit.money import Money
from roamcard.ledger.assets import CURRENCY_ASSETS, Asset

GIB = 1024**3
MIB = 1024**2


def describe_amount(asset: str, amount: int, language: str) -> str:
    babel_locale = language.replace("-", "_")
    if asset in CURRENCY_ASSETS:
        return Money(amount, asset).format(language)
    if asset == Asset.DATA_BYTES:
        if amount >= GIB:
            return gettext(
                "{amount} GB data",
                language,
                amount=format_decimal(round(amount / GIB, 2), locale=babel_locale),
            )
        return gettext(
            "{amount} MB data", language, amount=format_decimal(round(amount / MIB, 1), locale=babel_locale)
        )
    if asset == Asset.VOICE_SECONDS:
        return gettext(
            "{amount} minutes of calls", language, amount=format_decimal(amount // 60, locale=babel_locale)
        )
    if asset == Asset.SMS:
        return gettext("{amount} SMS", language, amount=format_decimal(amount, locale=babel_locale))
    return f"{amount} {asset}"
