from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class Voucher(Base):
    """One recharge card. `id` is its public serial number (fixed-width digits, sequential in its batch,
    so a range of serials is a range of ids). The PIN is never stored: only its keyed hash
    (HMAC-SHA256 with ROAMCARD_VOUCHER_PEPPER), unique across all vouchers, so a PIN names one voucher.
    Every status change is in `state_transitions` (entity `voucher`) with who and when."""

    __tablename__ = "vouchers"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batches.id"))
    pin_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sold_by_dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id"), nullable=True)
    redeemed_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
