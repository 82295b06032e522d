from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class SosAlert(Base):
    """One SOS a card holder raised (portal, API or hotline): what the contacts were told. At most
    `SOS_PER_HOUR` per card in any hour (`emergency.service.raise_sos`)."""

    __tablename__ = "sos_alerts"
    __table_args__ = (Index("ix_sos_alerts_card_id_created_at", "card_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    channel: Mapped[str] = mapped_column(String(16))  # portal, api, ivr
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    network_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    emergency_number: Mapped[str] = mapped_column(String(8))
    contacts_notified: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
