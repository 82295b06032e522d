"""Sandbox cards: the only cards a sandbox partner may top up (the demo cards, `roamcard cards create
--sandbox`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.db import insert_ignoring_conflict
from roamcard.kit import clock
from roamcard.models import SandboxCard


def mark_sandbox_card(session: Session, card_id: int) -> bool:
    """False when the card was a sandbox card already."""
    return insert_ignoring_conflict(session, SandboxCard, {"card_id": card_id, "created_at": clock.now()})
