"""Budgets held exactly when an order is created: a campaign's `budget` (per currency, in minor units)
is split over `SHARDS` counter rows (`promotion_budget_shards`), shard i holding at most its share; an
order takes the value its campaign gives it (discount + bonus worth, `Priced.value_of`) by conditional
updates that never take a shard past its share, and records each take as a hold.

One random shard usually has room: one update and one hold insert (on PostgreSQL a shard another
order has locked is skipped, up to three random shards). Otherwise the order takes what a
shard has left and goes on to the next (so a budget is never refused while the shards together have
room, in a quiet moment), and gives all it took back if the shards together do not have enough. The
sum of the shares is the budget, so no concurrency ever gives more than it. Parallel orders spread over
the shards instead of queueing on one counter row.

Release: a hold whose order has since expired or failed is given back (its shard's `used` lowered, the
hold deleted by id, so twice is impossible) by the next order that finds the shards short: nothing has
to run at expiry. A paid order keeps its holds for good.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.promotion.service.pricing import Campaign, Priced

SHARDS = 8
_CLOSED = ("expired", "failed")

_TAKE = (
    "UPDATE promotion_budget_shards SET "
    "used = used + CASE WHEN :cap - used < :want THEN :cap - used ELSE :want END, "
    "last_taken = CASE WHEN :cap - used < :want THEN :cap - used ELSE :want END "
    "WHERE campaign_id = :campaign_id AND currency = :currency AND shard = :shard AND used < :cap "
    "RETURNING last_taken"
)
_TAKE_WHOLE = (
    "UPDATE promotion_budget_shards SET used = used + :want, last_taken = :want "
    "WHERE campaign_id = :campaign_id AND currency = :currency AND shard = :shard AND used + :want <= :cap"
)
# On PostgreSQL a whole take never waits: a row it waited for would stay locked by it even when it then
# found no room (the re-check locks the row), and that lock, out of shard order, could close a circle
# with the short path below. A shard locked by another order is skipped.
_TAKE_WHOLE_PG = (
    "UPDATE promotion_budget_shards SET used = used + :want, last_taken = :want "
    "WHERE campaign_id = :campaign_id AND currency = :currency AND shard = :shard AND used + :want <= :cap"
    " AND shard IN (SELECT shard FROM promotion_budget_shards WHERE campaign_id = :campaign_id "
    "AND currency = :currency AND shard = :shard AND used + :want <= :cap FOR UPDATE SKIP LOCKED)"
)
_WHOLE_TRIES = 3
_HOLD = (
    "INSERT INTO promotion_budget_holds (campaign_id, currency, shard, order_id, amount, created_at) "
    "VALUES (:campaign_id, :currency, :shard, :order_id, :amount, :now)"
)
_MAKE_SHARD = (
    "INSERT INTO promotion_budget_shards (campaign_id, currency, shard, used, last_taken) "
    "VALUES (:campaign_id, :currency, :shard, 0, 0) ON CONFLICT DO NOTHING"
)
_STALE = (
    "SELECT h.id, h.shard, h.amount FROM promotion_budget_holds h JOIN topup_orders o ON o.id = h.order_id "
    "WHERE h.campaign_id = :campaign_id AND h.currency = :currency AND o.status IN ('expired', 'failed') "
    "ORDER BY h.shard, h.id"
)
_OF_ORDER = (
    "SELECT id, currency, shard, amount FROM promotion_budget_holds "
    "WHERE order_id = :order_id AND campaign_id = :campaign_id ORDER BY shard, id"
)
_DROP_HOLD = "DELETE FROM promotion_budget_holds WHERE id = :id"
_UNTAKE = (
    "UPDATE promotion_budget_shards SET used = used - :amount "
    "WHERE campaign_id = :campaign_id AND currency = :currency AND shard = :shard"
)


def budgeted(campaign: Campaign) -> bool:
    return bool(campaign.budget)


def share(budget: int, shard: int) -> int:
    """Shard `shard`'s part of `budget` (the parts add up to it exactly)."""
    return budget // SHARDS + (1 if shard < budget % SHARDS else 0)


def _release(tx: Tx, campaign_id: str, currency: str, holds: Iterable[tuple[int, int, int]]) -> None:
    for hold_id, shard, amount in holds:
        if tx.run(_DROP_HOLD, id=hold_id) == 1:
            tx.run(_UNTAKE, amount=amount, campaign_id=campaign_id, currency=currency, shard=shard)


def _take(tx: Tx, campaign_id: str, currency: str, budget: int, want: int, order_id: str) -> bool:
    params = {"campaign_id": campaign_id, "currency": currency, "order_id": order_id, "now": clock.now()}
    # Most of a budget's life a random shard has room for all of it: one update, one insert. A whole
    # take that finds no room changes (and so locks) nothing.
    whole = _TAKE_WHOLE if tx.is_sqlite else _TAKE_WHOLE_PG
    for shard in _sample(_WHOLE_TRIES):
        if tx.run(whole, cap=share(budget, shard), want=want, shard=shard, **_key(params)) == 1:
            tx.run(_HOLD, shard=shard, amount=want, **params)
            return True
    for attempt in range(3):
        # Short: take what each shard has left, in shard order (so two such orders never wait for each
        # other in a circle), and give it all back if together they do not have enough.
        taken: list[tuple[int, int]] = []
        left = want
        for shard in range(SHARDS):
            row = tx.one(_TAKE, cap=share(budget, shard), want=left, shard=shard, **_key(params))
            if row is not None and row[0] > 0:
                taken.append((shard, int(row[0])))
                left -= int(row[0])
            if left == 0:
                break
        if left == 0:
            for shard, amount in taken:
                tx.run(_HOLD, shard=shard, amount=amount, **params)
            return True
        for shard, amount in taken:
            tx.run(_UNTAKE, amount=amount, shard=shard, **_key(params))
        if attempt == 0:  # the shards may not exist yet (the campaign's first order in this currency)
            for shard in range(SHARDS):
                tx.run(_MAKE_SHARD, shard=shard, **_key(params))
        stale = tx.all(_STALE, **_key(params))
        if not stale and attempt > 0:
            return False
        _release(tx, campaign_id, currency, [(h, s, a) for h, s, a in stale])
    return False


def _sample(count: int) -> list[int]:
    shards = list(range(SHARDS))
    return [shards.pop(secrets.randbelow(len(shards))) for _ in range(min(count, SHARDS))]


def _key(params: dict[str, object]) -> dict[str, object]:
    return {"campaign_id": params["campaign_id"], "currency": params["currency"]}


def reserve(tx: Tx, campaigns: Iterable[Campaign], priced: Priced, *, order_id: str) -> list[str]:
    """Take the budgeted campaigns' value for this order; returns the ids of those whose budget (in the
    order's currency) cannot cover it. A campaign with no budget in that currency is full there."""
    currency = priced.list_price.currency
    full: list[str] = []
    for campaign in sorted((c for c in campaigns if budgeted(c)), key=lambda c: c.id):
        want = priced.value_of(campaign.id)
        budget = campaign.budget.get(currency)
        if want <= 0:
            continue
        if budget is None or not _take(tx, campaign.id, currency, budget, want, order_id):
            full.append(campaign.id)
    return full


def give_back(tx: Tx, campaign_ids: Iterable[str], *, order_id: str) -> None:
    """What this order took of campaigns it no longer uses (priced again after another was full)."""
    for campaign_id in campaign_ids:
        for hold_id, currency, shard, amount in tx.all(_OF_ORDER, order_id=order_id, campaign_id=campaign_id):
            _release(tx, campaign_id, currency, [(hold_id, shard, amount)])
