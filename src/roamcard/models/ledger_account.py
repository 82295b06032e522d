from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class LedgerAccount(Base):
    """An account of one asset. Card-side accounts cache their balance, guarded by `lower_bound`;
    operator-side accounts do not (their balance is derived from transfers), so no top-up ever
    queues behind one hot row."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    asset: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True, index=True)
    tracks_balance: Mapped[bool] = mapped_column(Boolean)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Held by pending reservations (ledger_reservations): what may be spent is balance - pending.
    pending: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    lower_bound: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
