from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from roamcard.config import get_settings
from roamcard.i18n import current_language
from roamcard.kit.schemas import MoneyOut
from roamcard.models import Payment, TopupOrder
from roamcard.payment.repository import NewPayment
from roamcard.promotion.schemas import BonusOut, DiscountOut, breakdown
from roamcard.topup.service.create import NewOrder
from roamcard.topup.service.quote import SavedQuote

ProductId = Annotated[str, Field(min_length=1, max_length=64)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["USD", "CNY"])]


class TopupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    currency: Currency
    payment_method: Annotated[str, Field(min_length=1, max_length=20, examples=["sandbox"])]
    amount: Annotated[
        int | None,
        Field(
            strict=True,
            gt=0,
            description="Custom amounts only: wallet credit in minor units (1000 = $10.00).",
        ),
    ] = None
    promo_code: Annotated[str | None, Field(min_length=1, max_length=64, examples=["SPRING2027"])] = None
    quote_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=32,
            description="From POST /api/v1/quotes: pay exactly the quoted charge, or 409 quote_expired.",
        ),
    ] = None


class QuoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    currency: Currency
    amount: Annotated[int | None, Field(strict=True, gt=0)] = None
    payment_method: Annotated[str | None, Field(min_length=1, max_length=20)] = None
    promo_code: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class QuoteOut(BaseModel):
    id: str
    product_id: str
    list_price: MoneyOut
    discounts: list[DiscountOut]
    bonuses: list[BonusOut]
    charge: MoneyOut = Field(description="What will be paid.")
    expires_at: datetime

    @classmethod
    def of(cls, saved: SavedQuote) -> QuoteOut:
        found = saved.quote
        discounts, bonuses = breakdown(found.promotions, current_language())
        listed = found.list_price or found.price
        return cls(
            id=saved.id,
            product_id=found.product.id,
            list_price=MoneyOut.of(listed),
            discounts=discounts,
            bonuses=bonuses,
            charge=MoneyOut.of(found.price),
            expires_at=saved.expires_at,
        )


class PaymentOut(BaseModel):
    id: str
    provider: str
    status: str
    checkout_url: str | None = Field(
        description="Where to send the payer: the gateway's page (mobile, card) or its desktop page."
    )
    qr_code: str | None = Field(
        default=None,
        description="Alipay / WeChat Pay: the text to show as a QR code on desktop (scanned with the app).",
    )


class TopupOut(BaseModel):
    id: str
    status: str
    channel: str
    product_id: str
    product_kind: str
    product_name_en: str
    product_name_zh: str
    grants: list[dict[str, Any]]
    price: MoneyOut = Field(description="What is charged: the list price less any discounts.")
    list_price: MoneyOut
    discounts: list[DiscountOut]
    bonuses: list[BonusOut] = Field(description="Given on top of what the product grants, when it is paid.")
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    payment: PaymentOut | None
    receipt_url: str

    @classmethod
    def of(cls, order: TopupOrder | NewOrder, payment: Payment | NewPayment | None) -> TopupOut:
        base = get_settings().public_base_url
        discounts, bonuses = breakdown(order.promotions, current_language())
        listed = order.list_price_amount if order.list_price_amount is not None else order.price_amount
        return cls(
            id=order.id,
            status=order.status,
            channel=order.channel,
            product_id=order.product_id,
            product_kind=order.product_kind,
            product_name_en=order.product_name_en,
            product_name_zh=order.product_name_zh,
            grants=order.grants,
            price=MoneyOut(amount=order.price_amount, currency=order.price_currency),
            list_price=MoneyOut(amount=listed, currency=order.price_currency),
            discounts=discounts,
            bonuses=bonuses,
            created_at=order.created_at,
            pay_by=order.pay_by,
            paid_at=order.paid_at,
            fulfilled_at=order.fulfilled_at,
            payment=PaymentOut(
                id=payment.id,
                provider=payment.provider,
                status=payment.status,
                checkout_url=payment.checkout_url,
                qr_code=payment.qr_code,
            )
            if payment
            else None,
            receipt_url=f"{base}/api/v1/topups/{order.id}/receipt",
        )


class TopupPage(BaseModel):
    data: list[TopupOut]
    next_cursor: str | None
