"""The quote step's call into promotions: the live campaigns and the card's facts, priced by the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from roamcard.errors import ValidationFailed
from roamcard.i18n import lazy
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.promotion import repository
from roamcard.promotion.service import codes
from roamcard.promotion.service.pricing import Order, Priced, price
from roamcard.promotion.states import DISCOUNT_KINDS, CampaignStatus


class _PromoCodeProblem(ValidationFailed):
    field_msgid = ""

    def __init__(self) -> None:
        super().__init__("promo_code", self.field_msgid)


class PromoCodeUnknown(_PromoCodeProblem):
    code = "promo_code_unknown"
    message = "This promo code is not valid."
    field_msgid = lazy("There is no such promo code. Check it and try again.")


class PromoCodeNotYetValid(_PromoCodeProblem):
    code = "promo_code_not_yet_valid"
    message = "This promo code is not valid yet."
    field_msgid = lazy("This promo code cannot be used yet: its offer has not started.")


class PromoCodeExpired(_PromoCodeProblem):
    code = "promo_code_expired"
    message = "This promo code has expired."
    field_msgid = lazy("This promo code has expired: its offer is over.")


class PromoExhausted(_PromoCodeProblem):
    code = "promo_exhausted"
    message = "This offer has been used up."
    field_msgid = lazy("This promo code's offer has been used up: it has reached its limit.")


class PromoCodeNotApplicable(_PromoCodeProblem):
    code = "promo_code_not_applicable"
    message = "This promo code does not apply to this recharge."
    field_msgid = lazy("This promo code does not apply to this product, payment method or channel.")


class PromoCodeUsed(_PromoCodeProblem):
    code = "promo_code_used"
    message = "This promo code has already been used."
    field_msgid = lazy("This promo code can be used once, and it has been used already.")


_BY_CODE = (
    "SELECT id, starts_at, ends_at, file_status, office_status FROM promotion_campaigns WHERE code = :code"
)
_BY_ID = "SELECT id, starts_at, ends_at, file_status, office_status FROM promotion_campaigns WHERE id = :id"


def check_code(
    tx: Tx,
    promo_code: str,
    applied: Sequence[str],
    now: datetime | None = None,
    exhausted: frozenset[str] = frozenset(),
) -> None:
    """A code the order was given must have applied: otherwise say precisely why not (only an order with
    a code pays for this look-up)."""
    rows = tx.all(_BY_CODE, code=promo_code.strip().upper())
    if any(row[0] in applied for row in rows):
        return
    if not rows:
        single = codes.find(tx, promo_code)
        if single is None:
            raise PromoCodeUnknown()
        if single.campaign_id in applied:
            return
        if not single.free:
            raise PromoCodeUsed()
        rows = tx.all(_BY_ID, id=single.campaign_id)
    if any(row[0] in exhausted for row in rows):
        raise PromoExhausted()
    now = now or clock.now()
    ended = CampaignStatus.ENDED.value
    if any((tx.dt(row[1]) or now) > now for row in rows):
        raise PromoCodeNotYetValid()
    if all((tx.dt(row[2]) or now) <= now or ended in (row[3], row[4]) for row in rows):
        raise PromoCodeExpired()
    raise PromoCodeNotApplicable()


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
    exclude: frozenset[str] = frozenset(),
    code_hash: str | None = None,
    bonuses_only: bool = False,
) -> Priced:
    """`code_hash`: instead of `promo_code`, what a quote kept of its code (codes.stored_hash).
    `bonuses_only`: an order already paid at its price (a recharge card's face value) gets no discount,
    so only the campaigns that give a bonus are considered."""
    now = clock.now()
    live = repository.live_campaigns(tx, now)
    campaigns = [c for c in live if c.id not in exclude and not (bonuses_only and c.kind in DISCOUNT_KINDS)]
    first_recharge = False
    if any(c.first_recharge_only for c in campaigns):
        first_recharge = not repository.has_paid_order(tx, card_id)
    single: codes.Found | None = None
    if code_hash and not promo_code:
        single = codes.find_by_hash(tx, code_hash) if any(c.single_use_codes for c in campaigns) else None
        if single is None:
            promo_code = codes.shared_code_of(code_hash, {c.code for c in live if c.code})
    elif promo_code and any(c.single_use_codes for c in campaigns):
        single = codes.find(tx, promo_code)
    order = Order(
        product_id=product_id,
        product_kind=product_kind,
        list_price=list_price,
        card_currency=card_currency,
        channel=channel,
        payment_method=payment_method,
        first_recharge=first_recharge,
        promo_code=promo_code.strip().upper() if promo_code else None,
        code_campaign=single.campaign_id if single is not None and single.free else None,
        coverage=tuple(coverage),
    )
    return price(campaigns, order, now)
