from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class Card(Base):
    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_number: Mapped[str] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Top-ups paused while a chargeback is reviewed (not a suspension: the card keeps working).
    topup_held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
