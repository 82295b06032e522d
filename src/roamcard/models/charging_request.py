from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class ChargingRequest(Base):
    """The first answer to each (session, invocationSequenceNumber): a repeated request gets it again and
    changes nothing."""

    __tablename__ = "charging_requests"
    __table_args__ = (UniqueConstraint("session_id", "sequence_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("charging_sessions.id"))
    sequence_number: Mapped[int] = mapped_column(BigInteger)
    operation: Mapped[str] = mapped_column(String(8))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
