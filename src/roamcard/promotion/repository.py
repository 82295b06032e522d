from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.models import PromotionCampaign
from roamcard.promotion.service.pricing import Campaign


def list_all(session: Session) -> Sequence[PromotionCampaign]:
    return session.scalars(select(PromotionCampaign).order_by(PromotionCampaign.id)).all()


# The quote step's one read: a handful of rows at most (campaigns live now), no cache to keep right, so a
# pause in the back office takes effect on the next quote.
_LIVE = (
    "SELECT id, name_en, name_zh, starts_at, ends_at, benefit, products, product_kinds, channels, "
    "payment_methods, currencies, first_recharge_only, min_price, code, max_redemptions, max_per_card, "
    "budget, stackable, priority, file_status, office_status, single_use_codes FROM promotion_campaigns "
    "WHERE file_status = 'active' AND office_status = 'active' AND starts_at <= :now AND ends_at > :now"
)
_PAID_BEFORE = (
    "SELECT 1 FROM topup_orders WHERE card_id = :card_id AND status IN ('paid', 'fulfilled') LIMIT 1"
)


def live_campaigns(tx: Tx, now: datetime) -> list[Campaign]:
    campaigns = []
    for row in tx.all(_LIVE, now=now):
        (id_, name_en, name_zh, starts, ends, benefit, products, kinds, channels, methods, currencies) = row[
            :11
        ]
        first_only, min_price, code, max_redemptions, max_per_card, budget, stackable, priority = row[11:19]
        file_status, office_status, single_use = row[19:]
        campaigns.append(
            Campaign(
                id=id_,
                name_en=name_en,
                name_zh=name_zh,
                starts_at=tx.dt(starts) or now,
                ends_at=tx.dt(ends) or now,
                benefit=tx.loads(benefit),
                products=tx.loads(products),
                product_kinds=tx.loads(kinds),
                channels=tx.loads(channels),
                payment_methods=tx.loads(methods),
                currencies=tx.loads(currencies),
                first_recharge_only=bool(first_only),
                min_price=tx.loads(min_price) or {},
                code=code,
                max_redemptions=max_redemptions,
                max_per_card=max_per_card,
                budget=tx.loads(budget) or {},
                stackable=bool(stackable),
                priority=priority,
                file_status=file_status,
                office_status=office_status,
                single_use_codes=bool(single_use),
            )
        )
    return campaigns


def has_paid_order(tx: Tx, card_id: int) -> bool:
    return tx.one(_PAID_BEFORE, card_id=card_id) is not None
