"""Prices from the catalogue's zones: what usage costs from the balance and what a balance can pay for.

Data is priced per MiB (2^20 bytes), voice per started minute, SMS per message; a charge is rounded up
to a whole minor unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from roamcard.charging import repository
from roamcard.kit.sql import Tx
from roamcard.ledger import reservations
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.ledger.service import Account

MIB = 1024 * 1024
KIND_ASSET = {"data": Asset.DATA_BYTES, "voice": Asset.VOICE_SECONDS, "sms": Asset.SMS}
_PRICE_FIELD = {"data": "data_per_mib", "voice": "voice_per_minute", "sms": "sms_each"}


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class Rate:
    kind: str
    price: int  # minor units per MiB, started minute or SMS
    currency: str

    def cost(self, units: int) -> int:
        """What `units` (bytes, seconds, messages) cost, rounded up to a whole minor unit."""
        if units <= 0 or self.price == 0:
            return 0
        if self.kind == "data":
            return -(-units * self.price // MIB)
        if self.kind == "voice":
            return -(-units // 60) * self.price
        return units * self.price

    def affordable(self, money: int, limit: int) -> int:
        """The most units (at most `limit`) whose cost is within `money`."""
        if self.price == 0:
            return limit
        if money <= 0:
            return 0
        if self.kind == "data":
            units = money * MIB // self.price
        elif self.kind == "voice":
            units = (money // self.price) * 60
        else:
            units = money // self.price
        return min(units, limit)


def rating_group_kind(tx: Tx, rating_group: int) -> str | None:
    kind = tx.value(repository.RATING_GROUP_KIND, rating_group=rating_group)
    return None if kind is None else str(kind)


def rate_for(tx: Tx, kind: str, country: str | None, currency: str) -> Rate | None:
    """The balance's rate in `country`'s zone, or None (no zone, or no price in the card's currency)."""
    if country is None:
        return None
    for _code, countries, prices in tx.all(repository.ZONES):
        if country in tx.loads(countries):
            price = tx.loads(prices).get(currency)
            return None if price is None else Rate(kind, int(price[_PRICE_FIELD[kind]]), currency)
    return None


@dataclass(frozen=True)
class PackShare:
    """Units one pack gives: its allowance, its ledger account and when it expires."""

    allowance_id: int
    account: Account
    units: int
    expires_at: datetime


@dataclass(frozen=True)
class BalanceShare:
    """Units the balance pays for at the zone's rate, and what they cost (minor units)."""

    units: int
    cost: int
    rate: Rate
    wallet: Account


@dataclass(frozen=True)
class Allocation:
    """How `units` of one kind are paid for: packs first (coverage, earliest expiry), then the balance.
    `unpaid` is what neither could pay for; `spare` is what packs and balance could still give afterwards
    (at most `spare_limit` from the balance), which online charging uses for the final-unit indication."""

    packs: list[PackShare]
    balance: BalanceShare | None
    unpaid: int
    spare: int


def covers(coverage: list[str] | None, country: str | None) -> bool:
    if not coverage:
        return True  # a product that names no countries is valid everywhere
    return country is not None and country in coverage


def allocate(
    tx: Tx,
    *,
    card_id: int,
    kind: str,
    country: str | None,
    currency: str,
    units: int,
    at: datetime,
    spare_limit: int = 0,
    rate: Rate | Unset | None = UNSET,
    wallet: Account | None = None,
) -> Allocation:
    """The one rating rule of online grants and offline records: what of `units` the card's packs live at
    `at` whose coverage includes `country` give (earliest expiry first; a pack is worth balance - pending),
    then what the wallet's available money buys at the zone's rate (a charge rounded up to a whole minor
    unit). Reads only; the caller reserves (online) or debits (offline) each share. `rate` and `wallet` may be
    passed by a caller that has looked them up already (a CDR import rates many records per zone and card)."""
    asset = KIND_ASSET[kind]
    left = max(0, units)
    spare = 0
    packs: list[PackShare] = []
    for allowance_id, account_id, code, can_give, pack_expires, coverage in tx.all(
        repository.LIVE_PACKS, card_id=card_id, asset=asset.value, now=at
    ):
        if not covers(tx.loads(coverage) if coverage is not None else None, country):
            continue
        can_give = int(can_give)
        take = min(can_give, left)
        spare += can_give - take
        if take <= 0:
            continue
        expires_at = tx.dt(pack_expires)
        assert expires_at is not None
        account = Account(id=int(account_id), code=code, asset=asset.value, tracks_balance=True)
        packs.append(PackShare(int(allowance_id), account, take, expires_at))
        left -= take
    if isinstance(rate, Unset):
        rate = rate_for(tx, kind, country, currency)
    share: BalanceShare | None = None
    if rate is not None and (left > 0 or spare_limit > 0):
        if wallet is None:
            wallet = ledger.wallet(tx, card_id, currency)
        money = reservations.available(tx, wallet.id)
        paid = rate.affordable(money, left) if left > 0 else 0
        cost = rate.cost(paid)
        if paid > 0:
            share = BalanceShare(paid, cost, rate, wallet)
            left -= paid
        if spare_limit > 0:
            spare += rate.affordable(money - cost, spare_limit)
    return Allocation(packs, share, left, spare)
