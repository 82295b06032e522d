"""Prices from the catalogue's zones: what usage costs from the balance and what a balance can pay for.

Data is priced per MiB (2^20 bytes), voice per started minute, SMS per message; a charge is rounded up
to a whole minor unit."""

from __future__ import annotations

from dataclasses import dataclass

from roamcard.charging import repository
from roamcard.kit.sql import Tx
from roamcard.ledger.assets import Asset

MIB = 1024 * 1024
KIND_ASSET = {"data": Asset.DATA_BYTES, "voice": Asset.VOICE_SECONDS, "sms": Asset.SMS}
_PRICE_FIELD = {"data": "data_per_mib", "voice": "voice_per_minute", "sms": "sms_each"}


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
