"""The campaigns a signed-in card can use right now, for the website's banner: live, open to the web
channel, for this card (a first-recharge offer only before its first paid recharge, a per-card cap not
used up), and not behind a code (a code is given to a traveller, not shown to everyone). Whether a
product, method or currency fits is decided at the confirmation step, where the price is quoted."""

from __future__ import annotations

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.promotion import repository
from roamcard.promotion.service.pricing import Campaign

# Slots of the card's that still count: its orders that are neither expired nor failed.
_USED_BY_CARD = (
    "SELECT count(*) FROM promotion_slots s JOIN topup_orders o ON o.id = s.order_id "
    "WHERE s.campaign_id = :campaign_id AND s.scope = :scope AND o.status NOT IN ('expired', 'failed')"
)


def available(tx: Tx, card_id: int, *, channel: str = "web") -> list[Campaign]:
    now = clock.now()
    found = []
    first_recharge: bool | None = None
    for campaign in repository.live_campaigns(tx, now):
        if campaign.code is not None or campaign.single_use_codes:
            continue
        if campaign.channels is not None and channel not in campaign.channels:
            continue
        if campaign.first_recharge_only:
            if first_recharge is None:
                first_recharge = not repository.has_paid_order(tx, card_id)
            if not first_recharge:
                continue
        if campaign.max_per_card is not None:
            used = tx.value(_USED_BY_CARD, campaign_id=campaign.id, scope=f"card:{card_id}")
            if int(used or 0) >= campaign.max_per_card:
                continue
        found.append(campaign)
    return sorted(found, key=lambda c: (-c.priority, c.ends_at, c.id))
