from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class Dispute(Base):
    """A chargeback: the payer's bank took back (part of) one payment. The gateway decides won or lost;
    staff decide when the card's top-up hold is lifted."""

    __tablename__ = "disputes"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    # The gateway's own id of the dispute (Stripe dp_…): one row per gateway dispute.
    provider_reference: Mapped[str] = mapped_column(String(128), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("topup_orders.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the gateway's reason code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The staff decision that lifted the card's top-up hold (also in the audit log).
    hold_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hold_released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
