"""Back office: an agent sets a card's emergency contacts for a caller (audited, with the reason). The card's
SOS alerts and contacts are shown on its page (`endpoints._card_page`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import BackOfficeRoute, CsrfChecked, Reason, Staff, act
from roamcard.deps import SessionDep
from roamcard.emergency import service as emergency_service
from roamcard.models import Card
from roamcard.staff.roles import Permission

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

Field = Annotated[str, Form(max_length=200)]


@router.post("/cards/{card_number}/emergency-contacts", dependencies=[CsrfChecked])
def save_contacts(
    request: Request,
    session: SessionDep,
    context: Staff,
    card_number: str,
    reason: Reason,
    holder_name: Field = "",
    name_0: Field = "",
    phone_0: Field = "",
    language_0: Field = "zh-CN",
    name_1: Field = "",
    phone_1: Field = "",
    language_1: Field = "zh-CN",
    name_2: Field = "",
    phone_2: Field = "",
    language_2: Field = "zh-CN",
) -> Response:
    context.require(Permission.EDIT_EMERGENCY_CONTACTS)
    rows = [(name_0, phone_0, language_0), (name_1, phone_1, language_1), (name_2, phone_2, language_2)]
    contacts = [emergency_service.ContactInput(n, p, lang) for n, p, lang in rows if n.strip() or p.strip()]

    def save(card: Card) -> None:
        emergency_service.save(
            session,
            card,
            holder_name=holder_name or None,
            contacts=contacts,
            actor=context.actor,
            reason=console.check_reason(reason),
        )

    return act(request, session, context, card_number, "emergency", save)
