"""Which campaigns an order gets and what they are worth: pure rules, no database (the quote step reads
the live campaigns and the card's facts, then calls `price`).

* Eligibility: live (both statuses active, `starts_at <= now < ends_at`), product or product kind,
  channel, payment method, order currency, first recharge, minimum list price, and the campaign's code
  when it has one (case-insensitive).
* Worth, in the order's currency: a percent discount is `list_price * percent // 100` (rounded down to a
  whole minor unit); an amount discount its amount in that currency (at most the list price); a bonus
  balance its amount in that currency (what is credited is its amount in the card's currency, so both
  must be listed); a bonus pack its declared `value`. A benefit worth nothing there does not apply.
* Choice: the single best non-stackable campaign (largest worth, then higher `priority`, then id) plus
  every eligible stackable one. Discounts are taken in that order, each at most what is left to pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from roamcard.kit.money import Money
from roamcard.promotion.states import DISCOUNT_KINDS, BenefitKind, CampaignStatus


@dataclass(frozen=True)
class Campaign:
    """A campaign as pricing reads it (the columns of `PromotionCampaign` the rules use)."""

    id: str
    name_en: str
    name_zh: str
    starts_at: datetime
    ends_at: datetime
    benefit: dict[str, Any]
    products: list[str] | None = None
    product_kinds: list[str] | None = None
    channels: list[str] | None = None
    payment_methods: list[str] | None = None
    currencies: list[str] | None = None
    first_recharge_only: bool = False
    min_price: dict[str, int] = field(default_factory=dict)
    code: str | None = None
    single_use_codes: bool = False
    max_redemptions: int | None = None
    max_per_card: int | None = None
    budget: dict[str, int] = field(default_factory=dict)
    stackable: bool = False
    priority: int = 0
    file_status: str = CampaignStatus.ACTIVE.value
    office_status: str = CampaignStatus.ACTIVE.value

    @property
    def kind(self) -> BenefitKind:
        return BenefitKind(self.benefit["kind"])

    def live_at(self, now: datetime) -> bool:
        active = CampaignStatus.ACTIVE.value
        return (
            self.file_status == active
            and self.office_status == active
            and self.starts_at <= now < self.ends_at
        )


@dataclass(frozen=True)
class Order:
    """What an order is, as far as the rules care."""

    product_id: str
    product_kind: str
    list_price: Money
    card_currency: str
    channel: str
    payment_method: str | None = None  # a quote may be asked before a method is chosen
    first_recharge: bool = False
    promo_code: str | None = None
    code_campaign: str | None = None  # the campaign whose single-use code the order gave
    coverage: Sequence[str] = ()


@dataclass(frozen=True)
class Discount:
    campaign_id: str
    name_en: str
    name_zh: str
    amount: Money


@dataclass(frozen=True)
class Bonus:
    """`amount` of `asset` credited on fulfilment (a currency for a bonus balance); `value` its worth in
    the order's currency (what budgets and the choice count)."""

    campaign_id: str
    name_en: str
    name_zh: str
    asset: str
    amount: int
    value: Money
    validity_days: int | None = None
    coverage: Sequence[str] = ()


@dataclass(frozen=True)
class Priced:
    list_price: Money
    discounts: list[Discount]
    bonuses: list[Bonus]
    charge: Money
    applied: tuple[Campaign, ...] = ()  # the campaigns behind the discounts and bonuses

    @property
    def campaign_ids(self) -> list[str]:
        return [d.campaign_id for d in self.discounts] + [b.campaign_id for b in self.bonuses]

    def value_of(self, campaign_id: str) -> int:
        """What one campaign gives this order, in the order's currency (discount or bonus worth)."""
        return sum(d.amount.amount for d in self.discounts if d.campaign_id == campaign_id) + sum(
            b.value.amount for b in self.bonuses if b.campaign_id == campaign_id
        )

    def to_record(self) -> list[dict[str, Any]]:
        """What the order keeps of what was applied (a snapshot: later reloads never rewrite it)."""
        record: list[dict[str, Any]] = [
            {
                "campaign_id": d.campaign_id,
                "name_en": d.name_en,
                "name_zh": d.name_zh,
                "kind": "discount",
                "amount": d.amount.amount,
                "currency": d.amount.currency,
            }
            for d in self.discounts
        ]
        record += [
            {
                "campaign_id": b.campaign_id,
                "name_en": b.name_en,
                "name_zh": b.name_zh,
                "kind": "bonus",
                "asset": b.asset,
                "amount": b.amount,
                "validity_days": b.validity_days,
                "coverage": list(b.coverage),
                "value": b.value.amount,
                "currency": b.value.currency,
            }
            for b in self.bonuses
        ]
        return record


def eligible(campaign: Campaign, order: Order, now: datetime) -> bool:
    currency = order.list_price.currency
    if not campaign.live_at(now):
        return False
    if campaign.products is not None and order.product_id not in campaign.products:
        return False
    if campaign.product_kinds is not None and order.product_kind not in campaign.product_kinds:
        return False
    if campaign.channels is not None and order.channel not in campaign.channels:
        return False
    if campaign.payment_methods is not None and order.payment_method not in campaign.payment_methods:
        return False
    if campaign.currencies is not None and currency not in campaign.currencies:
        return False
    if campaign.first_recharge_only and not order.first_recharge:
        return False
    if order.list_price.amount < campaign.min_price.get(currency, 0):
        return False
    if campaign.single_use_codes:
        # Its own single-use code, or (when it also has one) its shared code.
        shared = campaign.code is not None and (order.promo_code or "").upper() == campaign.code
        if order.code_campaign != campaign.id and not shared:
            return False
    elif campaign.code is not None and (order.promo_code or "").upper() != campaign.code:
        return False
    return worth(campaign, order) > 0


def worth(campaign: Campaign, order: Order) -> int:
    """The benefit's value in the order's currency; 0 when it has none there (it then does not apply)."""
    benefit, price = campaign.benefit, order.list_price
    kind = campaign.kind
    if kind is BenefitKind.PERCENT_OFF:
        return price.amount * int(benefit["percent"]) // 100
    if kind is BenefitKind.AMOUNT_OFF:
        return min(int(benefit["amounts"].get(price.currency, 0)), price.amount)
    if kind is BenefitKind.BONUS_BALANCE:
        if order.card_currency not in benefit["amounts"]:
            return 0  # nothing to credit to this card's wallet
        return int(benefit["amounts"].get(price.currency, 0))
    return int(benefit["value"].get(price.currency, 0))


def choose(campaigns: Iterable[Campaign], order: Order, now: datetime) -> list[Campaign]:
    """The best single non-stackable campaign and every stackable one, best first."""
    ranked = sorted(
        (c for c in campaigns if eligible(c, order, now)),
        key=lambda c: (-worth(c, order), -c.priority, c.id),
    )
    best = next((c for c in ranked if not c.stackable), None)
    return [c for c in ranked if c.stackable or c is best]


def price(campaigns: Iterable[Campaign], order: Order, now: datetime) -> Priced:
    listed = order.list_price
    left = listed.amount
    discounts: list[Discount] = []
    bonuses: list[Bonus] = []
    applied: list[Campaign] = []
    for campaign in choose(campaigns, order, now):
        value = worth(campaign, order)
        if campaign.kind in DISCOUNT_KINDS:
            taken = min(value, left)
            if taken <= 0:
                continue
            applied.append(campaign)
            left -= taken
            discounts.append(
                Discount(campaign.id, campaign.name_en, campaign.name_zh, Money(taken, listed.currency))
            )
            continue
        benefit = campaign.benefit
        if campaign.kind is BenefitKind.BONUS_BALANCE:
            bonus = Bonus(
                campaign.id,
                campaign.name_en,
                campaign.name_zh,
                asset=order.card_currency,
                amount=int(benefit["amounts"][order.card_currency]),
                value=Money(value, listed.currency),
            )
        else:
            bonus = Bonus(
                campaign.id,
                campaign.name_en,
                campaign.name_zh,
                asset=str(benefit["asset"]),
                amount=int(benefit["amount"]),
                value=Money(value, listed.currency),
                validity_days=int(benefit["validity_days"]),
                coverage=tuple(benefit.get("coverage") or order.coverage),
            )
        bonuses.append(bonus)
        applied.append(campaign)
    return Priced(listed, discounts, bonuses, Money(left, listed.currency), tuple(applied))
