"""eSIM queries. The allocation is one conditional statement: a profile goes to exactly one card."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import EsimProfile

# PostgreSQL: the first available profile no other transaction has locked (SKIP LOCKED, so parallel
# purchases take different profiles instead of queueing on one). The outer `status = 'available'` keeps it
# exactly-once whatever the inner select saw.
ALLOCATE_PG = (
    "UPDATE esim_profiles SET status = 'allocated', card_id = :card_id, allocated_at = :at "
    "WHERE id = (SELECT id FROM esim_profiles WHERE status = 'available' ORDER BY id LIMIT 1 "
    "FOR UPDATE SKIP LOCKED) AND status = 'available' RETURNING id, iccid"
)
# SQLite: one writer at a time, so the same statement without the lock clause is exactly-once too.
ALLOCATE_SQLITE = (
    "UPDATE esim_profiles SET status = 'allocated', card_id = :card_id, allocated_at = :at "
    "WHERE id = (SELECT id FROM esim_profiles WHERE status = 'available' ORDER BY id LIMIT 1) "
    "AND status = 'available' RETURNING id, iccid"
)
COUNT_AVAILABLE = "SELECT count(*) FROM esim_profiles WHERE status = 'available'"
CURRENT_FOR_CARD = (
    "SELECT id, iccid, msisdn, status, smdp_address, matching_id, confirmation_code_required, "
    "installed_at, last_event_at FROM esim_profiles WHERE card_id = :card_id AND status NOT IN "
    "('retired', 'available') ORDER BY id DESC LIMIT 1"
)

CHUNK = 500


def known_iccids(session: Session, iccids: Iterable[str]) -> set[str]:
    return _known(session, EsimProfile.iccid, iccids)


def known_msisdns(session: Session, msisdns: Iterable[str]) -> set[str]:
    return _known(session, EsimProfile.msisdn, msisdns)


def _known(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    wanted = list(values)
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def profiles_for_card(session: Session, card_id: int) -> list[EsimProfile]:
    return list(
        session.scalars(select(EsimProfile).where(EsimProfile.card_id == card_id).order_by(EsimProfile.id))
    )
