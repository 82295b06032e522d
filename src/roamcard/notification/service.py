"""SMS to a card's bound phone, written to the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard import i18n
from roamcard.db import Database, insert_ignoring_conflict
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.models import Card, Notification
from roamcard.notification import repository
from roamcard.notification.providers import get_provider
from roamcard.notification.sms import segments
from roamcard.notification.templates import TEMPLATES

QUEUED = "queued"
SENT = "sent"


def render(template: str, language: str, **params: Any) -> str:
    formatted = {
        key: value.format(language) if isinstance(value, Money) else value for key, value in params.items()
    }
    return i18n.gettext(TEMPLATES[template], language, **formatted)


def queue_sms(
    session: Session, card: Card, template: str, *, key: str, to_phone: str | None = None, **params: Any
) -> bool:
    """One message per `key`, however often the caller runs. False when it was already queued.
    `to_phone` sends to another number than the bound one (a code proving a new number)."""
    body = render(template, card.language, **params)
    inserted = insert_ignoring_conflict(
        session,
        Notification,
        {
            "key": key,
            "card_id": card.id,
            "phone": to_phone or card.phone,
            "language": card.language,
            "template": template,
            "body": body,
            "parts": segments(body),
            "status": QUEUED,
            "created_at": clock.now(),
        },
    )
    if inserted:
        enqueue(session, "notification.send", {"key": key})
    return inserted


def send(database: Database, key: str) -> None:
    """Read, send with no transaction open, record. A crash between send and record resends once:
    SMS delivery is at-least-once, and the provider gets our key as its reference."""
    with database.reading() as session:
        notification = repository.get_by_key(session, key)
        if notification is None or notification.status == SENT:
            return
        notification_id, phone, body = notification.id, notification.phone, notification.body
    provider = get_provider()
    message_id = provider.send(phone, body, reference=key)
    with database.transaction() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == QUEUED)
            .values(status=SENT, provider=provider.name, provider_reference=message_id, sent_at=clock.now())
            .execution_options(synchronize_session=False)
        )
