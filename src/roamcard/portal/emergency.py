"""The portal's emergency pages and the dashboard's network line.

`/emergency` answers without signing in: a country picker with the local emergency numbers (a signed-in
card's last visited country is chosen first) and the consular protection hotline (`consular_hotline`
setting). Signed in, the same page has the SOS button and the emergency contacts form: neither is refused
for the card's status (suspended, expired or empty cards keep all of the emergency service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.deps import ReadSessionDep, SessionDep
from roamcard.emergency import service as emergency_service
from roamcard.errors import ValidationFailed
from roamcard.i18n import lazy
from roamcard.kit import clock
from roamcard.models import Card
from roamcard.network import emergency as emergency_numbers
from roamcard.network import service as network_service
from roamcard.network.service import LastNetwork
from roamcard.portal import forms
from roamcard.portal.routing import FormDep, MaybeSignedIn, PortalRoute, SignedInDep, ViewDep, error_page
from roamcard.portal.views import BABEL_LOCALES, View, render

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

# After this long without a sighting the dashboard says what to check on the phone.
QUIET_AFTER = timedelta(days=1)

SERVICE_LABELS = {
    "all": lazy("All emergencies"),
    "police": lazy("Police"),
    "fire": lazy("Fire"),
    "ambulance": lazy("Ambulance"),
    "fire_ambulance": lazy("Fire and ambulance"),
    "traffic": lazy("Traffic accidents"),
    "coast_guard": lazy("Coast guard"),
    "tourist_police": lazy("Tourist police"),
}


# -- the dashboard's network line ---------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkStatus:
    text: str | None  # "On T-Mobile (United States) · 5 min ago"; None when never seen
    quiet: bool  # nothing seen for a day (or ever): show what to check


def _country(view: View, code: str) -> str:
    return str(Locale.parse(BABEL_LOCALES[view.language]).territories.get(code, code))


def _ago(view: View, seen_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - seen_at).total_seconds() // 60))
    if minutes < 1:
        return view._("just now")
    if minutes < 60:
        return view._("{count} min ago", count=minutes)
    if minutes < 24 * 60:
        return view._("{count} h ago", count=minutes // 60)
    return view._("{count} days ago", count=minutes // (24 * 60))


def network_status(view: View, network: LastNetwork | None, now: datetime | None = None) -> NetworkStatus:
    if network is None:
        return NetworkStatus(None, True)
    now = now or clock.now()
    if network.operator and network.country:
        where = view._(
            "On {operator} ({country})", operator=network.operator, country=_country(view, network.country)
        )
    elif network.country:
        where = view._("On a network in {country}", country=_country(view, network.country))
    else:
        where = view._("On network {mcc}-{mnc}", mcc=network.mcc, mnc=network.mnc)
    separator = "· " if where.endswith("）") else " · "  # a full-width bracket already leaves room
    text = where + separator + _ago(view, network.seen_at, now)
    return NetworkStatus(text, now - network.seen_at > QUIET_AFTER)


# -- the emergency page -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumberRow:
    number: str
    service: str


def _countries(view: View) -> list[tuple[str, str]]:
    names = [(code, _country(view, code)) for code in emergency_numbers.countries()]
    return sorted(names, key=lambda pair: pair[1])


def emergency_page(
    session: Session,
    view: View,
    card: Card | None,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    country: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    last = network_service.last_network(session, card.id) if card is not None else None
    known = set(emergency_numbers.countries())
    chosen = (country or values.get("country") or "").upper()
    if chosen not in known:
        chosen = last.country if last is not None and last.country in known else ""
    rows = (
        [
            NumberRow(entry.number, view._(SERVICE_LABELS.get(entry.service, entry.service)))
            for entry in emergency_numbers.numbers_for(chosen or None)
        ]
        if chosen
        else []
    )
    contacts = emergency_service.emergency_card(session, card.id) if card is not None else None
    slots = []
    if contacts is not None:
        for index in range(emergency_service.MAX_CONTACTS):
            saved = contacts.contacts[index] if index < len(contacts.contacts) else None
            slots.append(
                {
                    "name": values.get(f"name_{index}", saved.name if saved else ""),
                    "phone": values.get(f"phone_{index}", saved.phone if saved else ""),
                    "language": values.get(f"language_{index}", saved.language if saved else view.language),
                }
            )
    return render(
        view,
        "emergency.html",
        card=card,
        countries=_countries(view),
        chosen=chosen,
        chosen_name=_country(view, chosen) if chosen else "",
        rows=rows,
        consular=get_settings().consular_hotline,
        holder_name=values.get("holder_name", contacts.holder_name or "" if contacts else ""),
        slots=slots,
        values=values,
        errors=errors,
        notice=notice,
    )


NOTICES = {
    "sent": lazy("Your SOS was sent: each emergency contact gets a text message."),
    "saved": lazy("Your emergency contacts are saved."),
}


@router.get("/emergency", response_class=HTMLResponse)
def emergency(request: Request, card: MaybeSignedIn, view: ViewDep, session: ReadSessionDep) -> Response:
    view.signed_in = card is not None
    notice = NOTICES.get(request.query_params.get("done", ""))
    return emergency_page(
        session,
        view,
        card,
        values={},
        errors={},
        country=request.query_params.get("country"),
        notice=view._(notice) if notice else None,
    )


class ContactsForm(forms.Form):
    holder_name: Annotated[str, Field(max_length=200)] = ""
    name_0: Annotated[str, Field(max_length=200)] = ""
    phone_0: Annotated[str, Field(max_length=32)] = ""
    language_0: Annotated[str, Field(max_length=8)] = "zh-CN"
    name_1: Annotated[str, Field(max_length=200)] = ""
    phone_1: Annotated[str, Field(max_length=32)] = ""
    language_1: Annotated[str, Field(max_length=8)] = "zh-CN"
    name_2: Annotated[str, Field(max_length=200)] = ""
    phone_2: Annotated[str, Field(max_length=32)] = ""
    language_2: Annotated[str, Field(max_length=8)] = "zh-CN"

    def contacts(self) -> list[tuple[int, emergency_service.ContactInput]]:
        """The filled rows with their row number. An empty row is no contact; a row with only one of name
        and phone is an error the service names."""
        rows = [(self.name_0, self.phone_0, self.language_0), (self.name_1, self.phone_1, self.language_1)]
        rows.append((self.name_2, self.phone_2, self.language_2))
        return [
            (index, emergency_service.ContactInput(name, phone, language))
            for index, (name, phone, language) in enumerate(rows)
            if name.strip() or phone.strip()
        ]


def _form_field(field: str, rows: list[int]) -> str:
    """The service's field name ("contacts.0.phone": the first filled row) as the form's ("phone_1")."""
    parts = field.split(".")
    return f"{parts[2]}_{rows[int(parts[1])]}" if len(parts) == 3 else field


@router.post("/emergency/contacts")
@error_page(emergency_page)
def save_contacts(signed: SignedInDep, form: FormDep, session: SessionDep) -> Response:
    filled = forms.parse(ContactsForm, form).contacts()
    holder_name = form.get("holder_name") or None
    try:
        emergency_service.save(
            session, signed.card, holder_name=holder_name, contacts=[contact for _, contact in filled]
        )
    except ValidationFailed as error:
        message = forms.gettext(error.field_message, None, **error.field_params)
        raise forms.FormInvalid({_form_field(error.field, [row for row, _ in filled]): message}) from error
    return RedirectResponse("/emergency?done=saved#contacts", status_code=303)


@router.post("/emergency/sos")
@error_page(emergency_page)
def sos(signed: SignedInDep, form: FormDep, session: SessionDep) -> Response:
    emergency_service.raise_sos(session, signed.card, channel="portal")
    return RedirectResponse("/emergency?done=sent", status_code=303)
