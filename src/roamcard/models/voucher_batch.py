from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class VoucherBatch(Base):
    """A print run of recharge cards: one face value (money or a catalogue pack, snapshotted here), one
    expiry, serials `first..last`. `status` is `generating` until every voucher and its PIN exist, so a
    run that stopped half-way can never be activated."""

    __tablename__ = "voucher_batches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    face_value_amount: Mapped[int] = mapped_column(BigInteger)
    face_value_currency: Mapped[str] = mapped_column(String(3))
    product_id: Mapped[str] = mapped_column(String(64))
    product_kind: Mapped[str] = mapped_column(String(16))
    product_name_en: Mapped[str] = mapped_column(String(200))
    product_name_zh: Mapped[str] = mapped_column(String(200))
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    validity_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    generated_count: Mapped[int] = mapped_column(Integer)
    serial_first: Mapped[str] = mapped_column(String(20))
    serial_last: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once the expiry sweeper has expired every voucher of the batch still live at its expiry.
    expiry_swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
