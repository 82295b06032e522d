"""What the back office does with campaigns: read them with their live counters, pause, resume or end one
(`office_status`, through its state machine, which a reload of the file never touches), and preview what
a card would pay for a product now, through a channel, by the one quote step.

Counters come from the orders themselves (their `promotions` snapshot): a campaign is *redeemed* by an
order that was paid (paid or fulfilled), counted on the day it was paid (in the operator's time zone) and
under its channel, with the value it gave (discount, or the bonus's declared worth, in the order's
currency). What pending orders hold (caps' slots, budget shards) is shown apart, as *held*.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import Conflict, NotFound
from roamcard.kit import clock
from roamcard.kit.clock import as_utc
from roamcard.models import (
    Card,
    PromotionBudgetShard,
    PromotionCampaign,
    PromotionSlot,
    TopupOrder,
)
from roamcard.promotion.states import CampaignStatus, office_machine
from roamcard.topup.service.quote import Quote, priced
from roamcard.topup.states import TopupStatus

_REDEEMED = (TopupStatus.PAID.value, TopupStatus.FULFILLED.value)


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    message = "There is no such campaign."


class CampaignStatusUnchanged(Conflict):
    code = "campaign_status_unchanged"
    message = "This campaign cannot go from {current} to {target}."


@dataclass
class Tally:
    redemptions: int = 0
    value: dict[str, int] = field(default_factory=dict)  # currency -> minor units given

    def add(self, currency: str, amount: int) -> None:
        self.redemptions += 1
        self.value[currency] = self.value.get(currency, 0) + amount


@dataclass
class CampaignReport:
    campaign: PromotionCampaign
    live: bool
    total: Tally
    by_day: dict[str, Tally]  # "YYYY-MM-DD" in the operator's time zone, newest first
    by_channel: dict[str, Tally]
    budget_held: dict[str, int]  # what the budget shards have taken, pending orders included
    slots_held: int  # caps' slots taken (paid and pending orders)

    def budget_left(self, currency: str) -> int | None:
        budget = self.campaign.budget.get(currency)
        return None if budget is None else budget - self.budget_held.get(currency, 0)


def _live(campaign: PromotionCampaign, now: datetime) -> bool:
    active = CampaignStatus.ACTIVE.value
    return (
        campaign.file_status == active
        and campaign.office_status == active
        and as_utc(campaign.starts_at) <= now < as_utc(campaign.ends_at)
    )


def _promoted_orders(session: Session, since: datetime) -> list[TopupOrder]:
    return list(
        session.scalars(
            select(TopupOrder)
            .where(
                TopupOrder.promotions.is_not(None),
                TopupOrder.status.in_(_REDEEMED),
                TopupOrder.created_at >= since,
            )
            .order_by(TopupOrder.created_at)
        )
    )


def reports(session: Session, campaign_id: str | None = None) -> list[CampaignReport]:
    """Every campaign (or one) with its counters, newest start first."""
    query = select(PromotionCampaign).order_by(PromotionCampaign.starts_at.desc(), PromotionCampaign.id)
    if campaign_id is not None:
        query = query.where(PromotionCampaign.id == campaign_id)
    campaigns = list(session.scalars(query))
    if not campaigns:
        return []
    now = clock.now()
    zone = ZoneInfo(get_settings().default_timezone)
    found = {c.id: CampaignReport(c, _live(c, now), Tally(), {}, {}, {}, 0) for c in campaigns}
    earliest = min(as_utc(c.starts_at) for c in campaigns)
    for order in _promoted_orders(session, earliest):
        day = as_utc(order.paid_at or order.created_at).astimezone(zone).date().isoformat()
        given: dict[str, int] = defaultdict(int)
        for item in order.promotions or []:
            if item["campaign_id"] not in found:
                continue
            if item["kind"] == "discount":
                given[item["campaign_id"]] += int(item["amount"])
            else:
                given[item["campaign_id"]] += int(item.get("value") or 0)
        for campaign_id_, value in given.items():
            report = found[campaign_id_]
            currency = order.price_currency
            report.total.add(currency, value)
            report.by_day.setdefault(day, Tally()).add(currency, value)
            report.by_channel.setdefault(order.channel, Tally()).add(currency, value)
    ids = list(found)
    for cid, currency, used in session.execute(
        select(
            PromotionBudgetShard.campaign_id,
            PromotionBudgetShard.currency,
            func.sum(PromotionBudgetShard.used),
        )
        .where(PromotionBudgetShard.campaign_id.in_(ids))
        .group_by(PromotionBudgetShard.campaign_id, PromotionBudgetShard.currency)
    ):
        found[cid].budget_held[currency] = int(used or 0)
    for cid, count in session.execute(
        select(PromotionSlot.campaign_id, func.count())
        .where(PromotionSlot.campaign_id.in_(ids), PromotionSlot.scope == "all")
        .group_by(PromotionSlot.campaign_id)
    ):
        found[cid].slots_held = int(count)
    for report in found.values():
        report.by_day = dict(sorted(report.by_day.items(), reverse=True))
        report.by_channel = dict(sorted(report.by_channel.items()))
    return list(found.values())


def get(session: Session, campaign_id: str) -> PromotionCampaign:
    campaign = session.get(PromotionCampaign, campaign_id, populate_existing=True)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


def set_office_status(
    session: Session, campaign_id: str, target: CampaignStatus, *, staff_ref: str, reason: str
) -> PromotionCampaign:
    """Pause, resume or end a campaign in the back office: a conditional transition of `office_status`
    from what it is now (a reload of the file never changes it)."""
    campaign = get(session, campaign_id)
    current = campaign.office_status
    if not office_machine.allowed(current, target.value) or not office_machine.transition(
        session,
        campaign_id,
        current,
        target,
        reason=f"{staff_ref}: {reason}"[:200],
        office_status_by=staff_ref[:120],
        office_status_at=clock.now(),
    ):
        raise CampaignStatusUnchanged(current=current, target=target.value)
    return get(session, campaign_id)


def preview(
    session: Session,
    card: Card,
    *,
    product_id: str,
    currency: str,
    amount: int | None,
    channel: str,
    payment_method: str | None,
    promo_code: str | None,
) -> Quote:
    """What `card` would be quoted for the product now through `channel`: the quote step itself (nothing
    is saved or held; at order time a campaign at its cap is left out). A promo code that would not apply
    is the field error the card would get."""
    return priced(
        session,
        card,
        product_id=product_id,
        currency=currency,
        amount=amount,
        channel=channel,
        payment_method=payment_method or None,
        promo_code=promo_code or None,
    )
