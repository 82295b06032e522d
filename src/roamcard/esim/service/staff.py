"""What staff see of a card's eSIM profiles: each profile (current first) with its SM-DP+ events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import EsimEvent, EsimProfile


@dataclass(frozen=True)
class ProfileFile:
    profile: EsimProfile
    events: list[EsimEvent]


def profiles_of_card(session: Session, card_id: int, *, events_per_profile: int = 50) -> list[ProfileFile]:
    profiles = session.scalars(
        select(EsimProfile).where(EsimProfile.card_id == card_id).order_by(EsimProfile.id.desc())
    ).all()
    return [
        ProfileFile(
            profile,
            list(
                session.scalars(
                    select(EsimEvent)
                    .where(EsimEvent.iccid == profile.iccid)
                    .order_by(EsimEvent.event_at.desc(), EsimEvent.id.desc())
                    .limit(events_per_profile)
                )
            ),
        )
        for profile in profiles
    ]
