from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PartnerCallback(Base):
    """The callback of one partner top-up that reached a final state: pending (delivered by the
    `partner.callback` job, retried with backoff), delivered (a 2xx), or dead (no 2xx within the retry
    window; staff may replay it). Each attempt is a `partner_callback_attempts` row."""

    __tablename__ = "partner_callbacks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    topup_id: Mapped[int] = mapped_column(ForeignKey("partner_topups.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    # When this round of retries began (the first attempt, or a replay): retried for 24 hours from it.
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
