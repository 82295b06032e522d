from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class EsimProfile(Base):
    """One eSIM profile delivered by the SM-DP+ vendor: available until it is allocated to a card.

    The activation code is built from `smdp_address`, `matching_id` and `confirmation_code_required`
    (roamcard.esim.activation_code); the confirmation code is stored encrypted under the `esim-confirmation`
    purpose key, bound to the ICCID, and never goes into the QR.
    """

    __tablename__ = "esim_profiles"
    __table_args__ = (Index("ix_esim_profiles_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    iccid: Mapped[str] = mapped_column(String(22), unique=True)
    imsi: Mapped[str] = mapped_column(String(15), index=True)
    # The card's own local phone number (E.164); none for a data-only profile.
    msisdn: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    smdp_address: Mapped[str] = mapped_column(String(253))
    matching_id: Mapped[str] = mapped_column(String(255))
    confirmation_code_required: Mapped[bool] = mapped_column(Boolean)
    confirmation_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True, index=True)
    eid: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    allocated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The SM-DP+ timestamp of the last event applied: an older event never moves the profile.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A closed card's number is held until then (ROAMCARD_MSISDN_QUARANTINE_DAYS): no other profile may
    # take it; once it has passed, an import of that number moves it to `released_msisdn` and takes it.
    msisdn_quarantine_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_msisdn: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # A reissued profile names the one it replaced; unique, so a profile is replaced at most once.
    replaces_profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("esim_profiles.id"), unique=True, nullable=True
    )
