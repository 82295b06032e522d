from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class Partner(Base):
    """A third-party platform (a mini-program, a travel agency, a reseller) that tops up cards for its users
    through the partner API. It pays from a prepaid float (a ledger account in its currency), post-paid
    down to `-credit_limit_amount` (the account's lower bound). Its API keys are `partner_keys`."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))  # sandbox | live
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str] = mapped_column(String(500))
    credit_limit_amount: Mapped[int] = mapped_column(BigInteger)
    commission_bps: Mapped[int] = mapped_column(Integer)
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON)  # empty: from anywhere
    product_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every product
    float_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def describe(self) -> dict[str, Any]:
        return {
            "partner_id": self.public_id,
            "name": self.name,
            "status": self.status,
            "mode": self.mode,
            "currency": self.currency,
            "timezone": self.timezone,
            "callback_url": self.callback_url,
            "credit_limit": self.credit_limit_amount,
            "commission_bps": self.commission_bps,
            "allowed_cidrs": list(self.allowed_cidrs),
            "products": None if self.product_ids is None else list(self.product_ids),
        }
