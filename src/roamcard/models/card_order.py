from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class CardOrder(Base):
    """A new travel card bought online (`card_order`): the reserved profile, the provisional card it is
    reserved to (status `ordered` until paid), and the top-up order that carries price and payment."""

    __tablename__ = "card_orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    topup_order_id: Mapped[str] = mapped_column(ForeignKey("topup_orders.id"), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), unique=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("esim_profiles.id"), index=True)
    # SHA-256 of the order token (the token itself is a MAC of the id, never stored).
    token_hash: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Cancelled by a supervisor before the eSIM was installed; the refund it filed (finance decides).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refund_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
