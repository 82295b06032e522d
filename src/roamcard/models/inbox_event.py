from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class InboxEvent(Base):
    """A verified notification from outside; duplicates die at the unique (source, event_id)."""

    __tablename__ = "inbox_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Verified but not handled: why it waits for staff (an amount mismatch), never re-driven.
    held_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the sweeper last queued its handling again (an unhandled event is re-driven at most this often).
    redriven_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
