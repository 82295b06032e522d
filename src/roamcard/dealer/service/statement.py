"""A dealer's day: every till sale, and the float's day read from the ledger (reseller/statement.py).
The totals of the sales must explain the ledger's debits exactly (the endpoint's test checks both against
the transfers themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from roamcard.dealer import repository
from roamcard.dealer.repository import PosDealer
from roamcard.dealer.states import SaleKind
from roamcard.kit.money import Money
from roamcard.models import Dealer, DealerSale
from roamcard.reseller.statement import float_day


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


def _totals(sales: list[DealerSale], kind: SaleKind, currency: str) -> SaleTotals:
    chosen = [s for s in sales if s.kind == kind.value]
    return SaleTotals(
        count=len(chosen),
        face_value=Money(sum(s.face_amount for s in chosen), currency),
        commission=Money(sum(s.commission_amount for s in chosen), currency),
        net=Money(sum(s.net_amount for s in chosen), currency),
    )


def statement(session: Session, dealer: Dealer | PosDealer, day: date) -> Statement:
    """The day runs midnight to midnight in the dealer's time zone (reseller/statement.py)."""
    books = float_day(session, dealer.float_account_id, dealer.currency, day, dealer.timezone)
    currency = dealer.currency
    sales = list(repository.sales_between(session, dealer.id, books.starts_at, books.ends_at))
    return Statement(
        dealer=dealer,
        day=day,
        starts_at=books.starts_at,
        ends_at=books.ends_at,
        opening_balance=books.opening_balance,
        credits=books.credits,
        debits=books.debits,
        closing_balance=books.closing_balance,
        topups=_totals(sales, SaleKind.TOPUP, currency),
        vouchers=_totals(sales, SaleKind.VOUCHER, currency),
        sales=sales,
    )
