from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class SandboxCard(Base):
    """A card a sandbox partner may top up (the demo cards, `roamcard cards create --sandbox`); a sandbox
    partner's top-up to any other card is refused."""

    __tablename__ = "sandbox_cards"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
