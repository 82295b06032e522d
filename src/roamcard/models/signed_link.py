from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class SignedLink(Base):
    """A single-use signed link (a payment link by SMS, a sandbox approve/decline action). The token in
    the URL is `<id>.<MAC over id, purpose, subject and expiry>`; this row makes it single-use."""

    __tablename__ = "signed_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), index=True)  # what the link acts on (a payment id)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
