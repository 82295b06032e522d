from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class Card(Base):
    __tablename__ = "cards"
    # The validity sweeper (card/validity.py) reads cards by status and validity date.
    __table_args__ = (Index("ix_cards_status_valid_until", "status", "valid_until"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_number: Mapped[str] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Top-ups paused while a chargeback is reviewed (not a suspension: the card keeps working).
    topup_held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Optional alerts the card holder may switch off (card/settings.py; emergency messages are never
    # optional): 80 % / 100 % of a pack used, balance below the currency's threshold, a pack about to
    # expire, the welcome SMS in a new country.
    alert_pack_usage: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    alert_low_balance: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    alert_pack_expiry: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    alert_new_country: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Until when the line stays alive (保号): every recharge extends it (card/validity.py). NULL: not dated
    # yet (a card from before validity existed, or a card order's card until its starter recharge).
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The smallest reminder (days before `valid_until`) already sent for the current validity; a recharge
    # clears it.
    validity_reminded: Mapped[int | None] = mapped_column(Integer, nullable=True)
