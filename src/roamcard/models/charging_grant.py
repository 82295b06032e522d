from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class ChargingGrant(Base):
    """One slice of a grant: units from one pack, from the balance at a zone's rate, or zero-rated (an
    emergency call). A pack or balance slice holds a ledger reservation; when the session reports usage the
    slice is settled (`units_used`, `charged_amount`) and its reservation posted or voided. Settled slices
    are the card's usage record."""

    __tablename__ = "charging_grants"
    __table_args__ = (
        Index("ix_charging_grants_session_id_rating_group", "session_id", "rating_group"),
        Index("ix_charging_grants_card_id_created_at", "card_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # An online slice belongs to a charging session; an offline one to its CDR (roamcard cdr import).
    session_id: Mapped[int | None] = mapped_column(ForeignKey("charging_sessions.id"), nullable=True)
    cdr_record_id: Mapped[int | None] = mapped_column(ForeignKey("cdr_records.id"), nullable=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    rating_group: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(12))
    allowance_id: Mapped[int | None] = mapped_column(ForeignKey("allowances.id"), nullable=True)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_reservations.id"), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    units_granted: Mapped[int] = mapped_column(BigInteger)
    units_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Balance slices: the zone's price per rate unit (MiB, started minute, SMS) and what was charged.
    price_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    charged_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
