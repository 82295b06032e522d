"""Emergency contacts and SOS for the signed-in card, whatever its status (`CurrentCard`)."""

from __future__ import annotations

from fastapi import APIRouter, status

from roamcard.deps import CurrentCard, ReadSessionDep, SessionDep
from roamcard.emergency import service
from roamcard.emergency.schemas import ContactOut, EmergencyContactsIn, EmergencyContactsOut, SosOut

router = APIRouter(prefix="/api/v1/card", tags=["emergency"])


def _out(card: service.EmergencyCard) -> EmergencyContactsOut:
    return EmergencyContactsOut(
        holder_name=card.holder_name, contacts=[ContactOut.model_validate(c) for c in card.contacts]
    )


@router.get(
    "/emergency-contacts",
    response_model=EmergencyContactsOut,
    responses={401: {"description": "Not signed in"}},
)
def get_contacts(card: CurrentCard, session: ReadSessionDep) -> EmergencyContactsOut:
    return _out(service.emergency_card(session, card.id))


@router.put(
    "/emergency-contacts",
    response_model=EmergencyContactsOut,
    responses={
        401: {"description": "Not signed in"},
        422: {"description": "More than 3, or an invalid field"},
    },
)
def put_contacts(body: EmergencyContactsIn, card: CurrentCard, session: SessionDep) -> EmergencyContactsOut:
    """Replace the list (at most 3). Allowed whatever the card's status."""
    contacts = [service.ContactInput(c.name, c.phone, c.language) for c in body.contacts]
    return _out(service.save(session, card, holder_name=body.holder_name, contacts=contacts))


@router.post(
    "/sos",
    status_code=status.HTTP_201_CREATED,
    response_model=SosOut,
    responses={
        401: {"description": "Not signed in"},
        409: {"description": "No emergency contact to tell (no_emergency_contacts)"},
        429: {"description": "3 SOS in the last hour (sos_limit_reached); see Retry-After"},
    },
)
def sos(card: CurrentCard, session: SessionDep) -> SosOut:
    """Send each emergency contact an SMS; allowed whatever the card's status or balance."""
    alert = service.raise_sos(session, card, channel="api")
    return SosOut(
        id=alert.public_id,
        contacts_notified=alert.contacts_notified,
        country=alert.country,
        emergency_number=alert.emergency_number,
        created_at=alert.created_at,
    )
