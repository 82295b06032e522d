"""Queries of the emergency service, by intent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from roamcard.models import EmergencyContact, EmergencyProfile, SosAlert


def list_contacts(session: Session, card_id: int) -> Sequence[EmergencyContact]:
    return session.scalars(
        select(EmergencyContact)
        .where(EmergencyContact.card_id == card_id)
        .order_by(EmergencyContact.position)
    ).all()


def delete_contacts(session: Session, card_id: int) -> None:
    session.execute(delete(EmergencyContact).where(EmergencyContact.card_id == card_id))


def get_profile(session: Session, card_id: int) -> EmergencyProfile | None:
    return session.get(EmergencyProfile, card_id)


def count_sos_since(session: Session, card_id: int, since: datetime) -> int:
    return (
        session.scalar(select(func.count()).where(SosAlert.card_id == card_id, SosAlert.created_at > since))
        or 0
    )


def oldest_sos_since(session: Session, card_id: int, since: datetime) -> datetime | None:
    return session.scalar(
        select(func.min(SosAlert.created_at)).where(SosAlert.card_id == card_id, SosAlert.created_at > since)
    )


def list_sos(session: Session, card_id: int, limit: int = 20) -> Sequence[SosAlert]:
    return session.scalars(
        select(SosAlert).where(SosAlert.card_id == card_id).order_by(SosAlert.id.desc()).limit(limit)
    ).all()


# The card row, locked for the rest of the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds
# the one writer lock): parallel SOS of one card queue here, so the hourly count cannot be overtaken.
LOCK_CARD = "SELECT id FROM cards WHERE id = :card_id FOR UPDATE"
