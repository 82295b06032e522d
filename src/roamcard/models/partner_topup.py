from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class PartnerTopup(Base):
    """A top-up a partner made for one of its users. `external_id` is the partner's reference, unique per
    partner, so a retried request can never move the float twice. Amounts in the partner's currency: the
    price the user pays, the partner's cost (price - commission, what left the float) and the commission.
    Its status is its order's (`topup_orders`), as the partner sees it."""

    __tablename__ = "partner_topups"
    __table_args__ = (
        UniqueConstraint("partner_id", "external_id"),
        Index("ix_partner_topups_partner_id_created_at", "partner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(32), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    product_id: Mapped[str] = mapped_column(String(64))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    partner_cost_amount: Mapped[int] = mapped_column(BigInteger)
    commission_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
