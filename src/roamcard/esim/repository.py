"""eSIM queries. The allocation is one conditional statement: a profile goes to exactly one card."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from roamcard.lifecycle import as_tx
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
RECORD_IMPORTED = (
    "INSERT INTO state_transitions (entity_type, entity_id, from_status, to_status, reason, at) "
    "SELECT 'esim', CAST(id AS VARCHAR(32)), NULL, 'available', 'imported', :at FROM esim_profiles "
    "WHERE iccid IN :iccids"
)
COUNT_AVAILABLE = "SELECT count(*) FROM esim_profiles WHERE status = 'available'"
CURRENT_FOR_CARD = (
    "SELECT id, iccid, msisdn, status, smdp_address, matching_id, confirmation_code_required, "
    "installed_at, last_event_at FROM esim_profiles WHERE card_id = :card_id AND status NOT IN "
    "('retired', 'available') ORDER BY id DESC LIMIT 1"
)

CHUNK = 2000
# PostgreSQL takes the whole list as one array parameter (a long IN list costs more to send than to run).
KNOWN_PG = "SELECT {column} FROM esim_profiles WHERE {column} = ANY(:values)"
RECORD_IMPORTED_PG = (
    "INSERT INTO state_transitions (entity_type, entity_id, from_status, to_status, reason, at) "
    "SELECT 'esim', CAST(id AS VARCHAR(32)), NULL, 'available', 'imported', :at FROM esim_profiles "
    "WHERE iccid = ANY(:iccids)"
)


def known_iccids(session: Session, iccids: Iterable[str]) -> set[str]:
    return _known(session, "iccid", iccids)


_RELEASE_QUARANTINED = (
    "UPDATE esim_profiles SET released_msisdn = msisdn, msisdn = NULL "
    "WHERE msisdn = :msisdn AND msisdn_quarantine_until IS NOT NULL AND msisdn_quarantine_until <= :now"
)


def known_msisdns(session: Session, msisdns: Iterable[str], *, now: datetime) -> set[str]:
    """Numbers already taken. A closed card's number is taken until its quarantine ends; then it is
    released from the old profile (kept as `released_msisdn`) and free again."""
    wanted = list(msisdns)
    known = _known(session, "msisdn", wanted)
    for msisdn in sorted(known):
        if as_tx(session).run(_RELEASE_QUARANTINED, msisdn=msisdn, now=now):
            known.discard(msisdn)
    return known


def _known(session: Session, name: str, values: Iterable[str]) -> set[str]:
    wanted = list(values)
    found: set[str] = set()
    postgres = session.connection().dialect.name == "postgresql"
    column: Any = getattr(EsimProfile, name)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        if postgres:
            found.update(session.scalars(text(KNOWN_PG.format(column=name)), {"values": chunk}))
        else:
            found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


def record_imported(session: Session, iccids: list[str], at: datetime) -> None:
    """Each imported profile's first history row, written by the database from the rows just inserted."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text(RECORD_IMPORTED_PG), {"at": at, "iccids": iccids})
    else:
        statement = text(RECORD_IMPORTED).bindparams(bindparam("iccids", expanding=True))
        session.execute(statement, {"at": at, "iccids": iccids})


def profiles_for_card(session: Session, card_id: int) -> list[EsimProfile]:
    return list(
        session.scalars(select(EsimProfile).where(EsimProfile.card_id == card_id).order_by(EsimProfile.id))
    )
