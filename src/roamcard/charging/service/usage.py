"""A card's usage, per UTC day and kind, with what paid for it: which pack, the balance, or nothing (an
emergency call). Only settled grant slices count: what a session has not reported yet is not usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from roamcard.charging.states import GrantSource
from roamcard.errors import ValidationFailed
from roamcard.kit.sql import Tx

MAX_DAYS = 92
_SETTLED = (
    "SELECT g.settled_at, g.kind, g.source, g.units_used, g.charged_amount, g.price_currency, "
    "g.allowance_id, a.product_id FROM charging_grants g LEFT JOIN allowances a ON a.id = g.allowance_id "
    "WHERE g.card_id = :card_id AND g.settled_at >= :start AND g.settled_at < :end AND g.units_used > 0 "
    "ORDER BY g.settled_at, g.id"
)


def card_usage(tx: Tx, card_id: int, first: date, last: date) -> dict[str, Any]:
    if last < first:
        raise ValidationFailed("to", "The end date is before the start date.")
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed("to", "Ask for at most {days} days at a time.", days=MAX_DAYS)
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    days: dict[tuple[str, str], dict[str, Any]] = {}
    for settled_at, kind, source, units, charged, currency, allowance_id, product_id in tx.all(
        _SETTLED, card_id=card_id, start=start, end=end
    ):
        moment = tx.dt(settled_at)
        assert moment is not None
        day = moment.date().isoformat()
        entry = days.setdefault((day, kind), {"date": day, "kind": kind, "units": 0, "paid_by": {}})
        entry["units"] += int(units)
        by = (source, allowance_id)
        paid = entry["paid_by"].get(by)
        if paid is None:
            paid = {"source": source, "units": 0}
            if source == GrantSource.PACK:
                paid.update(allowance_id=allowance_id, product_id=product_id)
            if source == GrantSource.BALANCE:
                paid["amount"] = {"amount": 0, "currency": currency}
            entry["paid_by"][by] = paid
        paid["units"] += int(units)
        if source == GrantSource.BALANCE:
            paid["amount"]["amount"] += int(charged or 0)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": [{**entry, "paid_by": list(entry["paid_by"].values())} for entry in days.values()],
    }
