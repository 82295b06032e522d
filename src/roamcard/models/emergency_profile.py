from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class EmergencyProfile(Base):
    """What an SOS says about the card holder: their name as they entered it (cards carry no name)."""

    __tablename__ = "emergency_profiles"

    card_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cards.id"), primary_key=True)
    holder_name: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
