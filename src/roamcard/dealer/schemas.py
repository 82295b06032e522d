from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from roamcard.card.numbers import CardNumber
from roamcard.dealer.repository import SaleBatch
from roamcard.dealer.service.statement import SaleTotals, Statement
from roamcard.i18n import current_language
from roamcard.kit.money import Money
from roamcard.kit.schemas import MoneyOut
from roamcard.models import DealerSale, TopupOrder, VoucherBatch
from roamcard.promotion.schemas import BonusOut, DiscountOut, breakdown
from roamcard.reseller.schemas import external_id
from roamcard.topup.service.create import NewOrder

ExternalId = Annotated[
    str,
    external_id(
        "The till's own reference for this sale, unique per dealer: the idempotency key.", "till-07-000123"
    ),
]


class PosTopupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    card_number: CardNumber
    product_id: Annotated[str, Field(min_length=1, max_length=64, examples=["balance-10"])]
    amount: Annotated[
        int | None,
        Field(strict=True, gt=0, description="Custom-amount products only: wallet credit in minor units."),
    ] = None


class PosVoucherSell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    serial: Annotated[str, Field(pattern=r"^[0-9]{14}$", examples=["10000100000042"])]


def _money(amount: int, currency: str) -> MoneyOut:
    return MoneyOut.of(Money(amount, currency))


class PosTopupOut(BaseModel):
    external_id: str
    order_id: str
    status: str
    card_number: str
    product_id: str
    product_name_en: str
    product_name_zh: str
    grants: list[dict[str, Any]]
    list_price: MoneyOut = Field(description="The catalogue's price, before any campaign's discount.")
    discounts: list[DiscountOut] = Field(description="Campaigns for the POS channel: taken off the price.")
    bonuses: list[BonusOut] = Field(description="Given to the card on top of the product.")
    face_value: MoneyOut = Field(description="What the sale is charged: the list price less discounts.")
    commission: MoneyOut = Field(description="The dealer's commission, on the charged face value.")
    net_debited: MoneyOut = Field(description="What left the float: face value less commission.")
    created_at: datetime
    fulfilled_at: datetime | None

    @classmethod
    def of(cls, sale: DealerSale, order: TopupOrder | NewOrder, card_number: str) -> PosTopupOut:
        discounts, bonuses = breakdown(order.promotions, current_language())
        listed = order.list_price_amount if order.list_price_amount is not None else sale.face_amount
        return cls(
            external_id=sale.external_id,
            order_id=order.id,
            status=order.status,
            card_number=card_number,
            product_id=order.product_id,
            product_name_en=order.product_name_en,
            product_name_zh=order.product_name_zh,
            grants=order.grants,
            list_price=_money(listed, sale.currency),
            discounts=discounts,
            bonuses=bonuses,
            face_value=_money(sale.face_amount, sale.currency),
            commission=_money(sale.commission_amount, sale.currency),
            net_debited=_money(sale.net_amount, sale.currency),
            created_at=sale.created_at,
            fulfilled_at=order.fulfilled_at,
        )


class PosVoucherSaleOut(BaseModel):
    external_id: str
    serial: str
    status: str
    product_id: str
    product_name_en: str
    product_name_zh: str
    face_value: MoneyOut
    commission: MoneyOut
    net_debited: MoneyOut
    expires_at: datetime
    sold_at: datetime

    @classmethod
    def of(cls, sale: DealerSale, batch: VoucherBatch | SaleBatch, status: str) -> PosVoucherSaleOut:
        assert sale.voucher_id is not None
        return cls(
            external_id=sale.external_id,
            serial=sale.voucher_id,
            status=status,
            product_id=batch.product_id,
            product_name_en=batch.product_name_en,
            product_name_zh=batch.product_name_zh,
            face_value=_money(sale.face_amount, sale.currency),
            commission=_money(sale.commission_amount, sale.currency),
            net_debited=_money(sale.net_amount, sale.currency),
            expires_at=batch.expires_at,
            sold_at=sale.created_at,
        )


class StatementTotals(BaseModel):
    count: int
    face_value: MoneyOut
    commission: MoneyOut
    net: MoneyOut

    @classmethod
    def of(cls, totals: SaleTotals) -> StatementTotals:
        return cls(
            count=totals.count,
            face_value=MoneyOut.of(totals.face_value),
            commission=MoneyOut.of(totals.commission),
            net=MoneyOut.of(totals.net),
        )


class StatementLine(BaseModel):
    kind: str
    external_id: str
    order_id: str | None
    serial: str | None
    face_value: MoneyOut
    commission: MoneyOut
    net: MoneyOut
    at: datetime


class PosStatementOut(BaseModel):
    dealer_id: str
    date: date
    timezone: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    opening_balance: MoneyOut
    credits: MoneyOut = Field(description="Float top-ups received that day (ledger).")
    debits: MoneyOut = Field(description="Left the float that day (ledger): the sales' net total.")
    closing_balance: MoneyOut
    topups: StatementTotals
    vouchers: StatementTotals
    lines: list[StatementLine]

    @classmethod
    def of(cls, statement: Statement) -> PosStatementOut:
        dealer = statement.dealer
        return cls(
            dealer_id=dealer.public_id,
            date=statement.day,
            timezone=dealer.timezone,
            starts_at=statement.starts_at,
            ends_at=statement.ends_at,
            currency=dealer.currency,
            opening_balance=MoneyOut.of(statement.opening_balance),
            credits=MoneyOut.of(statement.credits),
            debits=MoneyOut.of(statement.debits),
            closing_balance=MoneyOut.of(statement.closing_balance),
            topups=StatementTotals.of(statement.topups),
            vouchers=StatementTotals.of(statement.vouchers),
            lines=[
                StatementLine(
                    kind=sale.kind,
                    external_id=sale.external_id,
                    order_id=sale.order_id,
                    serial=sale.voucher_id,
                    face_value=_money(sale.face_amount, sale.currency),
                    commission=_money(sale.commission_amount, sale.currency),
                    net=_money(sale.net_amount, sale.currency),
                    at=sale.created_at,
                )
                for sale in statement.sales
            ],
        )
