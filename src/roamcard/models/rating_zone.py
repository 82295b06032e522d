from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class RatingZone(Base):
    """A zone of the catalogue file (`[[zones]]`): its countries and, per currency, the balance's price in
    minor units per MiB of data, per started minute of voice and per SMS."""

    __tablename__ = "rating_zones"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    countries: Mapped[list[str]] = mapped_column(JSON)
    prices: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
