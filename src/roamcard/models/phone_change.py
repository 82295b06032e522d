from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PhoneChange(Base):
    """A request to bind a new phone number, proven by a 6-digit code sent to that number.

    Only a keyed hash of the code is stored. A newer request supersedes an older one; a code is good for
    `expires_at` and a limited number of wrong tries."""

    __tablename__ = "phone_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    new_phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(80))  # "<key id>:<hex HMAC-SHA256>"
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
