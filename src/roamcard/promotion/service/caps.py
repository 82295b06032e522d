"""Caps held exactly when an order is created: a campaign's `max_redemptions` and `max_per_card` are
slots (models/promotion_slot.py) that an order claims in its create's transaction.

An order claims a random free slot with `INSERT … ON CONFLICT DO NOTHING`: the unique key lets one order
have each slot, so no more than N orders ever hold one (on PostgreSQL a claim that meets an uncommitted
claim of the same slot waits for it, then takes another). Orders race for different slots, not for one
counter row. A slot whose order has since expired or failed is free: the next claimant deletes it (by
slot and old order id, so two cannot both take it), which is the release; an order that is paid keeps
its slot for good, so a promotion counts as used when the order is paid, and holds while it is pending.

Campaigns are claimed in id order, the total before the card's: a transaction waits only for a slot of a
later (campaign, scope) than any it holds, so two claims never wait for each other in a circle.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.promotion.service.pricing import Campaign

# An order in one of these no longer holds its slots.
_CLOSED = ("expired", "failed")
_BLIND_TRIES = 3

_CLAIM = (
    "INSERT INTO promotion_slots (campaign_id, scope, slot, order_id, card_id, created_at) "
    "VALUES (:campaign_id, :scope, :slot, :order_id, :card_id, :now) ON CONFLICT DO NOTHING"
)
_HELD = (
    "SELECT s.slot, s.order_id, o.status FROM promotion_slots s "
    "LEFT JOIN topup_orders o ON o.id = s.order_id WHERE s.campaign_id = :campaign_id AND s.scope = :scope"
)
# How many of a scope's slots live orders hold: at the cap (every order of a holiday's tail once a campaign
# is used up) this one aggregate answers, instead of reading every slot into Python.
_LIVE_COUNT = (
    "SELECT count(*) FROM promotion_slots s LEFT JOIN topup_orders o ON o.id = s.order_id "
    "WHERE s.campaign_id = :campaign_id AND s.scope = :scope "
    "AND (o.status IS NULL OR o.status NOT IN ('expired', 'failed'))"
)
_FREE_STALE = (
    "DELETE FROM promotion_slots WHERE campaign_id = :campaign_id AND scope = :scope AND slot = :slot "
    "AND order_id = :old_order_id"
)
_DROP_ORDERS = "DELETE FROM promotion_slots WHERE order_id = :order_id AND campaign_id = :campaign_id"


def capped(campaign: Campaign) -> bool:
    return campaign.max_redemptions is not None or campaign.max_per_card is not None


def _scopes(campaign: Campaign, card_id: int) -> list[tuple[str, int]]:
    scopes = []
    if campaign.max_redemptions is not None:
        scopes.append(("all", campaign.max_redemptions))
    if campaign.max_per_card is not None:
        scopes.append((f"card:{card_id}", campaign.max_per_card))
    return scopes


def _claim(tx: Tx, campaign_id: str, scope: str, limit: int, order_id: str, card_id: int) -> bool:
    params = {"campaign_id": campaign_id, "scope": scope, "order_id": order_id, "card_id": card_id}
    now = clock.now()
    # Most of a campaign's life most slots are free: a random one is a single statement.
    if limit > 2 * _BLIND_TRIES:
        for _ in range(_BLIND_TRIES):
            if tx.run(_CLAIM, slot=secrets.randbelow(limit) + 1, now=now, **params) == 1:
                return True
        if int(tx.value(_LIVE_COUNT, campaign_id=campaign_id, scope=scope)) >= limit:
            return False
    for _ in range(limit + 16):  # each miss is a slot taken meanwhile: this ends
        held = tx.all(_HELD, campaign_id=campaign_id, scope=scope)
        live = {slot for slot, _, status in held if status not in _CLOSED}
        stale = {slot: holder for slot, holder, status in held if status in _CLOSED}
        free = [slot for slot in range(1, limit + 1) if slot not in live]
        if not free:
            return False
        slot = free[secrets.randbelow(len(free))]
        if slot in stale:
            tx.run(_FREE_STALE, campaign_id=campaign_id, scope=scope, slot=slot, old_order_id=stale[slot])
        if tx.run(_CLAIM, slot=slot, now=now, **params) == 1:
            return True
        # Someone took it meanwhile (committed, or we waited for them): read again.
    return False


def reserve(tx: Tx, campaigns: Iterable[Campaign], *, order_id: str, card_id: int) -> list[str]:
    """Claim the capped campaigns' slots for this order; returns the ids of those at their cap (their
    slots this order may already hold are given back; the caller prices again without them)."""
    full: list[str] = []
    for campaign in sorted((c for c in campaigns if capped(c)), key=lambda c: c.id):
        for scope, limit in _scopes(campaign, card_id):
            if not _claim(tx, campaign.id, scope, limit, order_id, card_id):
                tx.run(_DROP_ORDERS, order_id=order_id, campaign_id=campaign.id)
                full.append(campaign.id)
                break
    return full


def give_back(tx: Tx, campaign_ids: Iterable[str], *, order_id: str) -> None:
    """Slots this order holds of campaigns it no longer uses (priced again after another was full)."""
    for campaign_id in campaign_ids:
        tx.run(_DROP_ORDERS, order_id=order_id, campaign_id=campaign_id)
