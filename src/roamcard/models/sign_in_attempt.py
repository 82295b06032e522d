from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class SignInAttempt(Base):
    """Password attempts against one sign-in name (a card number, a staff e-mail), whether or not that name
    exists, so an unknown number is counted and locked exactly like an issued one. An attempt is counted
    before the password is checked (auth/attempts.py), so parallel guesses cannot outrun the limit."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (UniqueConstraint("scope", "subject"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "card" or "staff"
    subject: Mapped[str] = mapped_column(String(254))  # the card number or the e-mail as typed (normalised)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
