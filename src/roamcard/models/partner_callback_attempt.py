from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PartnerCallbackAttempt(Base):
    """One try at delivering a callback: when, the partner's status code (None: no answer, e.g. a
    timeout or a refused connection, said in `error`), how long it took and the first 200 bytes of the
    answer."""

    __tablename__ = "partner_callback_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("partner_callbacks.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_head: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
