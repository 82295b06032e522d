from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class VoucherOperation(Base):
    """One committed status change of a serial range (activate, block, expire, sell): who, when, which
    range, how many vouchers it actually changed. Each changed voucher also gets a `state_transitions`
    row whose reason names this operation."""

    __tablename__ = "voucher_operations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batches.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    serial_first: Mapped[str] = mapped_column(String(20))
    serial_last: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    changed_count: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
