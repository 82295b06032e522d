from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class Quote(Base):
    """A price shown to a card (`POST /api/v1/quotes`), good until `expires_at`: an order placed with its
    id is charged exactly `charge_amount` or refused (topup/service/create.py)."""

    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payment_method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Never the code: its keyed hash (keys.py purpose `promo-code`), or a single-use code's row's hash.
    promo_code_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    list_price_amount: Mapped[int] = mapped_column(BigInteger)
    charge_amount: Mapped[int] = mapped_column(BigInteger)
    promotions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Indexed for the sweeper that deletes expired quotes (`topup.service.quote.purge_expired`).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
