from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class Dealer(Base):
    """A shop or distributor. Its prepaid float is a ledger account in its currency (lower bound 0).
    The POS API secret is stored only encrypted under the "dealer-api" purpose key, bound to its key id,
    so the database alone never yields it (see reseller/signing.py)."""

    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    commission_bps: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))
    float_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), unique=True)
    api_key_id: Mapped[str] = mapped_column(String(40), unique=True)
    api_secret_encrypted: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
