from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PosNonce(Base):
    """A signed POS request already seen: a replay dies at the unique (dealer, nonce). Rows older than
    the signature window are purged (a request that old is refused by its timestamp anyway)."""

    __tablename__ = "pos_nonces"
    __table_args__ = (UniqueConstraint("dealer_id", "nonce"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealers.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
