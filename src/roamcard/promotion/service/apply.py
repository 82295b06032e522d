"""The quote step's call into promotions: the live campaigns and the card's facts, priced by the rules."""

from __future__ import annotations

from collections.abc import Sequence

from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.promotion import repository
from roamcard.promotion.service.pricing import Campaign, Order, Priced, price


def _applicable(campaign: Campaign) -> bool:
    # Caps are held exactly only by reservations taken when the order is created, which are not built
    # yet: a capped campaign is never applied rather than applied past its cap (docs/operations.md).
    return campaign.max_redemptions is None and campaign.max_per_card is None and not campaign.budget


def price_order(
    tx: Tx,
    *,
    card_id: int,
    card_currency: str,
    product_id: str,
    product_kind: str,
    coverage: Sequence[str],
    list_price: Money,
    channel: str,
    payment_method: str | None,
    promo_code: str | None = None,
) -> Priced:
    now = clock.now()
    campaigns = [c for c in repository.live_campaigns(tx, now) if _applicable(c)]
    first_recharge = False
    if any(c.first_recharge_only for c in campaigns):
        first_recharge = not repository.has_paid_order(tx, card_id)
    order = Order(
        product_id=product_id,
        product_kind=product_kind,
        list_price=list_price,
        card_currency=card_currency,
        channel=channel,
        payment_method=payment_method,
        first_recharge=first_recharge,
        promo_code=promo_code,
        coverage=tuple(coverage),
    )
    return price(campaigns, order, now)
