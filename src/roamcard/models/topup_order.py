from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class TopupOrder(Base):
    """One recharge, from any channel. Grants are a snapshot: later catalogue edits never change it."""

    __tablename__ = "topup_orders"
    __table_args__ = (Index("ix_topup_orders_card_id_created_at", "card_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    channel: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[str] = mapped_column(String(64))
    product_kind: Mapped[str] = mapped_column(String(16))
    product_name_en: Mapped[str] = mapped_column(String(200))
    product_name_zh: Mapped[str] = mapped_column(String(200))
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    validity_days: Mapped[int | None] = mapped_column(nullable=True)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    price_currency: Mapped[str] = mapped_column(String(3))
    # With a promotion: the list price before discounts (`price_amount` is what is charged) and what was
    # applied (promotion/service/pricing.py `Priced.to_record`), a snapshot that reloads never rewrite.
    list_price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    promotions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    payment_method: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pay_by: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
