from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PartnerKey(Base):
    """One API key of a partner. The secret is stored only encrypted under the "dealer-api" purpose key,
    bound to its key id (reseller/signing.py). A rotated-out key keeps working until `expires_at` (the
    overlap); the current key has none."""

    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    api_key_id: Mapped[str] = mapped_column(String(40), unique=True)
    api_secret_encrypted: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
