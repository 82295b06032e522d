from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class DealerSale(Base):
    """One till transaction of a dealer: a direct top-up or a recharge card sold. `external_id` is the
    dealer's own reference, unique per dealer, so a retried sale can never debit the float twice.
    Amounts are in the dealer's currency: face value, the dealer's commission, and the net debited from
    the float (face - commission)."""

    __tablename__ = "dealer_sales"
    __table_args__ = (
        UniqueConstraint("dealer_id", "external_id"),
        Index("ix_dealer_sales_dealer_id_created_at", "dealer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    voucher_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True)
    face_amount: Mapped[int] = mapped_column(BigInteger)
    commission_amount: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
