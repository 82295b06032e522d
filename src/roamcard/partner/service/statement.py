"""A partner's day (reseller/statement.py, the dealers' statement): every top-up of the day with its
amounts and commission, and the float's opening balance, credits, debits and closing balance from the
ledger. The top-ups' partner cost adds up to the day's debits. As JSON, or CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from roamcard.kit.money import Money
from roamcard.models import LedgerTransfer, PartnerTopup, TopupOrder
from roamcard.partner import repository
from roamcard.partner.repository import ApiPartner
from roamcard.partner.states import partner_status
from roamcard.reseller import repository as reseller_repository
from roamcard.reseller.statement import FloatDay, float_day


@dataclass(frozen=True)
class Statement:
    partner: ApiPartner
    day: date
    books: FloatDay
    credit_limit: Money
    lines: list[tuple[PartnerTopup, TopupOrder]]
    credits: list[LedgerTransfer]  # the float's credits that day (payments received)

    def total(self, field: str) -> Money:
        return Money(sum(getattr(topup, field) for topup, _ in self.lines), self.partner.currency)


def statement(session: Session, partner: ApiPartner, day: date) -> Statement:
    books = float_day(session, partner.float_account_id, partner.currency, day, partner.timezone)
    lines = list(repository.topups_between(session, partner.id, books.starts_at, books.ends_at))
    credits = list(
        reseller_repository.float_credits(session, partner.float_account_id, books.starts_at, books.ends_at)
    )
    return Statement(partner, day, books, Money(partner.credit_limit, partner.currency), lines, credits)


def as_json(found: Statement) -> dict[str, object]:
    currency = found.partner.currency

    def money(amount: int) -> dict[str, object]:
        return {"amount": amount, "currency": currency}

    books = found.books
    return {
        "partner_id": found.partner.public_id,
        "date": found.day.isoformat(),
        "timezone": found.partner.timezone,
        "starts_at": books.starts_at,
        "ends_at": books.ends_at,
        "currency": currency,
        "opening_balance": money(books.opening_balance.amount),
        "credits": money(books.credits.amount),
        "debits": money(books.debits.amount),
        "closing_balance": money(books.closing_balance.amount),
        "credit_limit": money(found.credit_limit.amount),
        "totals": {
            "count": len(found.lines),
            "price": money(found.total("price_amount").amount),
            "partner_cost": money(found.total("partner_cost_amount").amount),
            "commission": money(found.total("commission_amount").amount),
        },
        "lines": [
            {
                "id": topup.order_id,
                "external_id": topup.external_id,
                "status": partner_status(order.status).value,
                "product_id": topup.product_id,
                "price": money(topup.price_amount),
                "partner_cost": money(topup.partner_cost_amount),
                "commission": money(topup.commission_amount),
                "at": topup.created_at,
            }
            for topup, order in found.lines
        ],
        "float_movements": [
            {
                "kind": "credit",
                "amount": money(transfer.amount),
                "reference": transfer.reference,
                "at": transfer.created_at,
            }
            for transfer in found.credits
        ],
    }


CSV_COLUMNS = ("at", "id", "external_id", "status", "product_id", "price", "partner_cost", "commission")


def as_csv(found: Statement) -> str:
    """One row per top-up (amounts in minor units), then the day's totals and the float's balances."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, "currency"])
    currency = found.partner.currency
    for topup, order in found.lines:
        writer.writerow(
            [
                topup.created_at.isoformat(),
                topup.order_id,
                topup.external_id,
                partner_status(order.status).value,
                topup.product_id,
                topup.price_amount,
                topup.partner_cost_amount,
                topup.commission_amount,
                currency,
            ]
        )
    books = found.books
    writer.writerow(
        [
            "total",
            "",
            "",
            len(found.lines),
            "",
            found.total("price_amount").amount,
            found.total("partner_cost_amount").amount,
            found.total("commission_amount").amount,
            currency,
        ]
    )
    for transfer in found.credits:
        writer.writerow(
            [
                transfer.created_at.isoformat(),
                "",
                transfer.reference or "",
                "float_credit",
                "",
                transfer.amount,
                "",
                "",
                currency,
            ]
        )
    for label, value in (
        ("opening_balance", books.opening_balance),
        ("credits", books.credits),
        ("debits", books.debits),
        ("closing_balance", books.closing_balance),
    ):
        writer.writerow([label, "", "", "", "", value.amount, "", "", currency])
    return out.getvalue()
