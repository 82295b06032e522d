"""Money is an integer of minor units plus an ISO 4217 code. No floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision

SUPPORTED_CURRENCIES = ("USD", "CNY")
# Plain "en" would print "US$"; the users of each language expect "$10.00" and "¥72.00".
BABEL_LOCALES = {"en": "en_US", "zh-CN": "zh_Hans_CN"}
# Our travellers only ever see dollars and yuan, so each is written as at home ("$10.00", "¥72.00")
# whatever the page's language, instead of the disambiguated "US$" / "CN¥".
HOME_LOCALES = {"USD": "en_US", "CNY": "zh_Hans_CN"}


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


@lru_cache(maxsize=4096)
def _formatted(amount: int, currency: str, babel_locale: str) -> str:
    # babel takes ~60 µs a call (locale parse and data look-ups); a few amounts recur all the time.
    value = Decimal(amount).scaleb(-minor_digits(currency))
    return str(format_currency(value, currency, locale=_locale(babel_locale)))


@cache
def _locale(name: str) -> Locale:
    # Balances differ from one message to the next: a parsed locale halves babel's cost of a new amount.
    return Locale.parse(name)


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 code: {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def as_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-minor_digits(self.currency))

    def format(self, locale: str = "en") -> str:
        """`$10.00`, `¥72.00`: known currencies as at home, others in the reader's locale."""
        babel_locale = HOME_LOCALES.get(self.currency) or BABEL_LOCALES.get(locale, locale.replace("-", "_"))
        return _formatted(self.amount, self.currency, babel_locale)

    def to_dict(self) -> dict[str, int | str]:
        return {"amount": self.amount, "currency": self.currency}

    @classmethod
    def from_decimal_string(cls, text: str, currency: str) -> Money:
        """Parse a gateway's decimal string ("72.00") exactly; reject extra precision."""
        value = Decimal(text)
        scaled = value.scaleb(minor_digits(currency))
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{text} has more precision than {currency} allows")
        return cls(int(scaled), currency)
