from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class RequestNonce(Base):
    """A signed API request already seen (a dealer's till or a partner platform): a replay dies at the
    unique (signer, nonce), the signer being the dealer's or partner's public id. Rows older than the
    signature window are purged (a request that old is refused by its timestamp anyway)."""

    __tablename__ = "request_nonces"
    __table_args__ = (UniqueConstraint("signer", "nonce"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    signer: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
