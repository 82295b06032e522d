from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class CdrRecord(Base):
    """One offline charging record (`roamcard cdr import`), keyed by the network's `record_id`. The fields
    are kept as imported and `fingerprint` is their hash, so a re-import of the same record changes nothing
    and the same `record_id` with other fields is refused. What paid for it is in `charging_grants` (slices
    with `cdr_record_id`, settled at `started_at`); `charged_amount` is the balance's part and `units_unpaid`
    what neither packs nor balance could pay for (the shortfall, reported, never a negative balance)."""

    __tablename__ = "cdr_records"
    __table_args__ = (Index("ix_cdr_records_card_id_started_at", "card_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    imsi: Mapped[str] = mapped_column(String(15))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(8))
    units: Mapped[int] = mapped_column(BigInteger)
    called: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mcc: Mapped[str] = mapped_column(String(3))
    mnc: Mapped[str] = mapped_column(String(3))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    charged_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    charged_currency: Mapped[str] = mapped_column(String(3))
    units_unpaid: Mapped[int] = mapped_column(BigInteger, default=0)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
