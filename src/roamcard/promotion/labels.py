"""What a recharge's promotions are called in front of a traveller, in their language: the confirmation
step, the receipt (HTML and PDF), the SMS after fulfilment, the history and the dashboard banner.

A discount reads "春节充值特惠 −¥21.60"; a bonus "+1 GB bonus data" after its campaign's name. They are
made from what the order recorded (`pricing.Priced.to_record`), so a later reload of the campaign file
never changes what an old receipt says."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

from roamcard.i18n import gettext, lazy
from roamcard.kit.money import Money
from roamcard.ledger.assets import CURRENCY_ASSETS, Asset
from roamcard.ledger.formatting import GIB, MIB
from roamcard.promotion.service.pricing import Campaign
from roamcard.promotion.states import BenefitKind

MINUS = "\u2212"  # a real minus sign, not a hyphen


@dataclass(frozen=True)
class Line:
    campaign_id: str
    kind: str  # "discount" | "bonus"
    name: str  # the campaign's name in the reader's language
    effect: str  # "−¥21.60", "+1 GB bonus data"

    def __str__(self) -> str:
        return f"{self.name} {self.effect}"


def campaign_name(name_en: str, name_zh: str, language: str) -> str:
    return name_zh if language == "zh-CN" else name_en


def bonus_text(asset: str, amount: int, language: str) -> str:
    """`+1 GB bonus data`, `+30 bonus minutes of calls`, `+$5.00 bonus balance`."""
    babel_locale = language.replace("-", "_")
    if asset in CURRENCY_ASSETS:
        return gettext("+{amount} bonus balance", language, amount=Money(amount, asset).format(language))
    if asset == Asset.DATA_BYTES:
        if amount >= GIB:
            number = format_decimal(round(amount / GIB, 2), locale=babel_locale)
            return gettext("+{amount} GB bonus data", language, amount=number)
        number = format_decimal(round(amount / MIB, 1), locale=babel_locale)
        return gettext("+{amount} MB bonus data", language, amount=number)
    if asset == Asset.VOICE_SECONDS:
        number = format_decimal(amount // 60, locale=babel_locale)
        return gettext("+{amount} bonus minutes of calls", language, amount=number)
    if asset == Asset.SMS:
        return gettext("+{amount} bonus SMS", language, amount=format_decimal(amount, locale=babel_locale))
    return f"+{amount} {asset}"


def lines(record: Iterable[dict[str, Any]] | None, language: str) -> list[Line]:
    """One line per discount and bonus an order (or a quote) recorded, discounts first."""
    found = []
    for entry in record or []:
        name = campaign_name(entry["name_en"], entry["name_zh"], language)
        if entry["kind"] == "discount":
            effect = MINUS + Money(int(entry["amount"]), entry["currency"]).format(language)
        else:
            effect = bonus_text(entry["asset"], int(entry["amount"]), language)
        found.append(Line(entry["campaign_id"], entry["kind"], name, effect))
    return sorted(found, key=lambda line: line.kind != "discount")


def summary(record: Iterable[dict[str, Any]] | None, language: str) -> str:
    """All of them on one line (the SMS, the history): "春节充值特惠 −¥21.60；…"."""
    separator = "；" if language == "zh-CN" else "; "
    return separator.join(str(line) for line in lines(record, language))


def with_summary(product_name: str, record: Iterable[dict[str, Any]] | None, language: str) -> str:
    """An SMS's product with what promotions gave: "5GB 流量包（春节充值特惠 −¥21.60）" or
    "5 GB data (Spring Festival offer −¥21.60)"; the name alone when none applied. Used by the fulfilment
    SMS and by the back office's "send receipt", so both say the same."""
    if not record:
        return product_name
    given = summary(record, language)
    return f"{product_name}（{given}）" if language == "zh-CN" else f"{product_name} ({given})"


OFFER_PERCENT = lazy("{percent} off")  # percent = "20%": no "%" in a msgid (python-format)
OFFER_AMOUNT = lazy("{amount} off")


def offer_text(campaign: Campaign, currency: str, card_currency: str, language: str) -> str | None:
    """What a campaign gives, for the dashboard banner ("20% off", "¥14.00 off", "+1 GB bonus data");
    None when it gives nothing in `currency` (the card's usual one)."""
    benefit = campaign.benefit
    kind = campaign.kind
    if kind is BenefitKind.PERCENT_OFF:
        return gettext(OFFER_PERCENT, language, percent=f"{int(benefit['percent'])}%")
    if kind is BenefitKind.AMOUNT_OFF:
        amount = benefit["amounts"].get(currency)
        return (
            None
            if amount is None
            else gettext(OFFER_AMOUNT, language, amount=Money(int(amount), currency).format(language))
        )
    if kind is BenefitKind.BONUS_BALANCE:
        amount = benefit["amounts"].get(card_currency)
        return None if amount is None else bonus_text(card_currency, int(amount), language)
    return bonus_text(str(benefit["asset"]), int(benefit["amount"]), language)
