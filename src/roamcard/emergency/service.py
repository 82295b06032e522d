"""Emergency contacts and SOS. Never refused for the card's status: a suspended, expired or empty card keeps
all of it (callers use `CurrentCard`, never `ActiveCard`).

An SOS sends each contact one SMS in the contact's own language (template `sos_alert`): the holder's name as
they entered it, the country of the last network the card was seen on and when (UTC), and that country's
emergency number. At most SOS_PER_HOUR per card in any hour: the card row is locked first (PostgreSQL; on
SQLite the write transaction already holds the one writer lock), so parallel requests queue and the count
they read cannot be overtaken. Every SOS is written to `sos_alerts` and the audit log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.card import numbers
from roamcard.emergency import repository
from roamcard.errors import AppError, TooManyRequests, ValidationFailed
from roamcard.i18n import LANGUAGES, gettext, lazy
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.lifecycle import as_tx
from roamcard.models import EmergencyContact, EmergencyProfile, SosAlert
from roamcard.network import emergency as emergency_numbers
from roamcard.network import plmn
from roamcard.network import service as network_service
from roamcard.notification import service as notification_service

log = structlog.get_logger("roamcard.emergency")

MAX_CONTACTS = 3
SOS_PER_HOUR = 3
SOS_WINDOW = timedelta(hours=1)
NAME_MAX_LENGTH = 60

UNKNOWN_COUNTRY = lazy("an unknown country")
CONTACT_NAME_MISSING = lazy("Enter the contact's name.")
HOLDER_NAME_MISSING = lazy("Enter your name.")
NO_NAME = lazy("the holder of travel card {card_tail}")


class SosLimitReached(TooManyRequests):
    code = "sos_limit_reached"
    message = (
        "This card already sent 3 SOS alerts in the last hour. Try again in {minutes} minutes. "
        "In danger, call the local emergency number."
    )


class NoEmergencyContacts(AppError):
    status_code = 409
    code = "no_emergency_contacts"
    message = "Add an emergency contact first. In danger, call the local emergency number."


class CardLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def card_number(self) -> str: ...


@dataclass(frozen=True)
class ContactInput:
    name: str
    phone: str
    language: str


@dataclass(frozen=True)
class Contact:
    position: int
    name: str
    phone: str
    language: str


@dataclass(frozen=True)
class EmergencyCard:
    holder_name: str | None
    contacts: list[Contact]


# -- contacts ------------------------------------------------------------------------------------------
def emergency_card(session: Session, card_id: int) -> EmergencyCard:
    profile = repository.get_profile(session, card_id)
    contacts = [
        Contact(row.position, row.name, row.phone, row.language)
        for row in repository.list_contacts(session, card_id)
    ]
    return EmergencyCard(profile.holder_name if profile else None, contacts)


def _clean_name(field: str, raw: str, message: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValidationFailed(field, message)
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationFailed(field, "At most {count} characters.", count=NAME_MAX_LENGTH)
    return name


def _validated(contacts: Sequence[ContactInput]) -> list[ContactInput]:
    if len(contacts) > MAX_CONTACTS:
        raise ValidationFailed("contacts", "At most {count} emergency contacts.", count=MAX_CONTACTS)
    cleaned: list[ContactInput] = []
    for index, contact in enumerate(contacts):
        name = _clean_name(f"contacts.{index}.name", contact.name, CONTACT_NAME_MISSING)
        try:
            phone = numbers.normalise_phone(contact.phone)
        except numbers.InvalidPhone as exc:
            raise ValidationFailed(f"contacts.{index}.phone", str(exc)) from None
        if contact.language not in LANGUAGES:
            raise ValidationFailed(f"contacts.{index}.language", "Choose Chinese or English.")
        if any(other.phone == phone for other in cleaned):
            raise ValidationFailed(f"contacts.{index}.phone", "This number is already a contact.")
        cleaned.append(ContactInput(name, phone, contact.language))
    return cleaned


def _audit_view(card: EmergencyCard) -> dict[str, object]:
    # The audit log keeps who the contacts were, with their numbers masked.
    return {
        "holder_name": card.holder_name,
        "contacts": [
            {"name": c.name, "phone": numbers.mask_phone(c.phone), "language": c.language}
            for c in card.contacts
        ],
    }


def save(
    session: Session,
    card: CardLike,
    *,
    holder_name: str | None,
    contacts: Sequence[ContactInput],
    actor: audit.Actor | None = None,
    reason: str | None = None,
) -> EmergencyCard:
    """Replace the card's emergency contacts (at most 3) and the holder's name an SOS gives. An agent's
    change (`actor`) is audited with the list before and after."""
    cleaned = _validated(contacts)
    name = _clean_name("holder_name", holder_name, HOLDER_NAME_MISSING) if holder_name else None
    before = emergency_card(session, card.id)
    now = clock.now()
    repository.delete_contacts(session, card.id)
    session.flush()  # the unique (card, position) must be free before the new rows go in
    for position, contact in enumerate(cleaned, start=1):
        session.add(
            EmergencyContact(
                card_id=card.id,
                position=position,
                name=contact.name,
                phone=contact.phone,
                language=contact.language,
                updated_at=now,
            )
        )
    profile = repository.get_profile(session, card.id)
    if name is None and profile is not None:
        session.delete(profile)
    elif name is not None and profile is None:
        session.add(EmergencyProfile(card_id=card.id, holder_name=name, updated_at=now))
    elif name is not None and profile is not None:
        profile.holder_name = name
        profile.updated_at = now
    session.flush()
    after = emergency_card(session, card.id)
    if actor is not None:
        audit.record(
            session,
            actor,
            "emergency.contacts_changed",
            target_type="card",
            target_id=card.card_number,
            card_id=card.id,
            before=_audit_view(before),
            after=_audit_view(after),
            reason=reason,
        )
    return after


# -- SOS -----------------------------------------------------------------------------------------------
def _time_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%m-%d %H:%M UTC")


def raise_sos(session: Session, card: CardLike, *, channel: str) -> SosAlert:
    """Tell every emergency contact of the card that its holder asked for help. SosLimitReached (429) after
    SOS_PER_HOUR in the last hour; NoEmergencyContacts (409) when there is nobody to tell (neither counts).
    `channel`: portal, api or ivr."""
    tx = as_tx(session)
    if not tx.is_sqlite:
        tx.one(repository.LOCK_CARD, card_id=card.id)
    now = clock.now()
    since = now - SOS_WINDOW
    if repository.count_sos_since(session, card.id, since) >= SOS_PER_HOUR:
        oldest = repository.oldest_sos_since(session, card.id, since)
        wait = (oldest + SOS_WINDOW - now).total_seconds() if oldest is not None else 60
        raise SosLimitReached(max(1, math.ceil(wait)))
    profile = emergency_card(session, card.id)
    if not profile.contacts:
        raise NoEmergencyContacts()
    network = network_service.last_network(session, card.id)
    country = network.country if network is not None else None
    number = emergency_numbers.local_number(country)
    alert = SosAlert(
        public_id=new_id("sos"),
        card_id=card.id,
        channel=channel,
        country=country,
        network_seen_at=network.seen_at if network is not None else None,
        emergency_number=number,
        contacts_notified=len(profile.contacts),
        created_at=now,
    )
    session.add(alert)
    session.flush()
    for contact in profile.contacts:
        language = contact.language
        notification_service.queue_sms(
            session,
            notification_service.CardRecipient(card.id, contact.phone, language),
            "sos_alert",
            key=f"{alert.public_id}:{contact.position}",
            name=profile.holder_name or gettext(NO_NAME, language, card_tail=card.card_number[-4:]),
            country=plmn.country_name(country, language) if country else gettext(UNKNOWN_COUNTRY, language),
            time=_time_text(network.seen_at) if network is not None else "-",
            number=number,
        )
    audit.record(
        session,
        audit.Actor(staff_id=None, email=f"card:{card.card_number}", role="cardholder"),
        "emergency.sos",
        target_type="sos_alert",
        target_id=alert.public_id,
        card_id=card.id,
        after={
            "channel": channel,
            "country": country,
            "emergency_number": number,
            "contacts_notified": len(profile.contacts),
        },
    )
    log.info(
        "emergency.sos", card_id=card.id, sos=alert.public_id, channel=channel, contacts=len(profile.contacts)
    )
    return alert


def recent_sos(session: Session, card_id: int) -> Sequence[SosAlert]:
    return repository.list_sos(session, card_id)
