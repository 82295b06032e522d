from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class VoucherAttempt(Base):
    """Every PIN entry: the record behind the brute-force limits (per card, per client) and the review
    flag. Neither the PIN nor its hash is kept."""

    __tablename__ = "voucher_attempts"
    __table_args__ = (
        Index("ix_voucher_attempts_card_id_at", "card_id", "at"),
        Index("ix_voucher_attempts_client_key_at", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    client_key: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(20))
    voucher_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
