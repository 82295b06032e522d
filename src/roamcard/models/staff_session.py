from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class StaffSession(Base):
    """A back-office sign-in; only the SHA-256 of its cookie is stored. It grants nothing until the second
    factor is passed (`verified_at`), ends after `idle` inactivity (`last_seen_at`) and at `expires_at`."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A TOTP secret offered for enrolment, encrypted, until the first code proves the authenticator has it.
    pending_totp_secret: Mapped[str | None] = mapped_column(String(300), nullable=True)
