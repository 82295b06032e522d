from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import PromotionCampaign


def list_all(session: Session) -> Sequence[PromotionCampaign]:
    return session.scalars(select(PromotionCampaign).order_by(PromotionCampaign.id)).all()
