from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class EsimEvent(Base):
    """An ES2+ HandleDownloadProgressInfo notification from the SM-DP+; a duplicate dies at the unique key."""

    __tablename__ = "esim_events"
    __table_args__ = (UniqueConstraint("iccid", "notification_point_id", "event_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    iccid: Mapped[str] = mapped_column(String(22), index=True)
    notification_point_id: Mapped[int] = mapped_column(Integer)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    point_status: Mapped[str] = mapped_column(String(40))
    eid: Mapped[str | None] = mapped_column(String(32), nullable=True)
    profile_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    function_call_identifier: Mapped[str | None] = mapped_column(String(128), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What the event did: applied, stale (older than the profile's last event), ignored (unknown point), ...
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
