from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class IvrCall(Base):
    """One hotline call, keyed by Twilio's CallSid, so any server process can take the next step.

    Holds where the caller is in the menu tree and how many tries the current entry has used; never the
    service password or a recharge PIN."""

    __tablename__ = "ivr_calls"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    caller: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    step: Mapped[str] = mapped_column(String(20))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    sign_in_failures: Mapped[int] = mapped_column(Integer, default=0)
    card_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
