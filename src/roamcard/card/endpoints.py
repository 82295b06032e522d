from __future__ import annotations

from fastapi import APIRouter

from roamcard.card import service
from roamcard.card.schemas import CardOut
from roamcard.deps import CurrentCard, ReadSessionDep

router = APIRouter(prefix="/api/v1", tags=["card"])


@router.get("/card", response_model=CardOut, responses={401: {"description": "Not signed in"}})
def get_card(card: CurrentCard, session: ReadSessionDep) -> CardOut:
    return CardOut.of(service.overview(session, card))
