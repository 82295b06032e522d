"""One statement of a seller's day (a dealer, a partner): the day runs midnight to midnight in the
seller's time zone, and the float's opening balance, credits, debits and closing balance are read from the
ledger. Each API adds its own lines (the day's sales), whose totals must explain the ledger's debits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from roamcard.kit.money import Money
from roamcard.reseller import repository


@dataclass(frozen=True)
class FloatDay:
    starts_at: datetime
    ends_at: datetime
    opening_balance: Money
    credits: Money
    debits: Money
    closing_balance: Money


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    local = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=local)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=local)
    return start.astimezone(UTC), end.astimezone(UTC)


def float_day(session: Session, float_account_id: int, currency: str, day: date, timezone: str) -> FloatDay:
    start, end = day_bounds(day, timezone)
    credited_before, debited_before = repository.float_movements(session, float_account_id, None, start)
    credited, debited = repository.float_movements(session, float_account_id, start, end)
    opening = credited_before - debited_before
    return FloatDay(
        starts_at=start,
        ends_at=end,
        opening_balance=Money(opening, currency),
        credits=Money(credited, currency),
        debits=Money(debited, currency),
        closing_balance=Money(opening + credited - debited, currency),
    )
