from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class ChargingSession(Base):
    """One Nchf converged-charging session (`ref` is its chargingDataRef), opened by a network element for a
    card; `open` until released. Status through `charging_session_machine`."""

    __tablename__ = "charging_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    network_element_id: Mapped[int] = mapped_column(ForeignKey("network_elements.id"))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    mcc: Mapped[str | None] = mapped_column(String(3), nullable=True)
    mnc: Mapped[str | None] = mapped_column(String(3), nullable=True)
    called: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
