"""A dealer's day: every till sale, and the float's opening balance, credits, debits and closing balance
read from the ledger. The totals of the sales must explain the ledger's debits exactly (the endpoint's
test checks both against the transfers themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from roamcard.dealer import repository
from roamcard.dealer.repository import PosDealer
from roamcard.dealer.states import SaleKind
from roamcard.kit.money import Money
from roamcard.models import Dealer, DealerSale


@dataclass(frozen=True)
class SaleTotals:
    count: int
    face_value: Money
    commission: Money
    net: Money


@dataclass(frozen=True)
class Statement:
    dealer: Dealer | PosDealer
    day: date
    starts_at: datetime
    ends_at: datetime
    opening_balance: Money
    credits: Money
    debits: Money
    closing_balance: Money
    topups: SaleTotals
    vouchers: SaleTotals
    sales: list[DealerSale]


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    local = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=local)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=local)
    return start.astimezone(UTC), end.astimezone(UTC)


def _totals(sales: list[DealerSale], kind: SaleKind, currency: str) -> SaleTotals:
    chosen = [s for s in sales if s.kind == kind.value]
    return SaleTotals(
        count=len(chosen),
        face_value=Money(sum(s.face_amount for s in chosen), currency),
        commission=Money(sum(s.commission_amount for s in chosen), currency),
        net=Money(sum(s.net_amount for s in chosen), currency),
    )


def statement(session: Session, dealer: Dealer | PosDealer, day: date) -> Statement:
    """The day runs midnight to midnight in the dealer's time zone."""
    start, end = day_bounds(day, dealer.timezone)
    currency = dealer.currency
    credited_before, debited_before = repository.float_movements(
        session, dealer.float_account_id, None, start
    )
    credited, debited = repository.float_movements(session, dealer.float_account_id, start, end)
    opening = credited_before - debited_before
    sales = list(repository.sales_between(session, dealer.id, start, end))
    return Statement(
        dealer=dealer,
        day=day,
        starts_at=start,
        ends_at=end,
        opening_balance=Money(opening, currency),
        credits=Money(credited, currency),
        debits=Money(debited, currency),
        closing_balance=Money(opening + credited - debited, currency),
        topups=_totals(sales, SaleKind.TOPUP, currency),
        vouchers=_totals(sales, SaleKind.VOUCHER, currency),
        sales=sales,
    )
