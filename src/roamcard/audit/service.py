"""Write and read the audit log: who (staff id, email and role at the time), when, what (action, target),
the state before and after, and the reason given. Entries are only ever added: the ORM refuses to flush a
changed or deleted entry, and the database refuses UPDATE and DELETE (migration 0004).

Callers pass `before`/`after` dictionaries of plain values; a password or PIN must never be among them
(`record` refuses keys that look like one, so a slip fails loudly in tests instead of leaking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from roamcard.audit import repository
from roamcard.audit.repository import AuditFilter
from roamcard.kit import clock
from roamcard.models import AuditEntry

_SECRET_KEY = re.compile(r"(^|_)(password|pin|secret|code|token)($|_)", re.IGNORECASE)
PAGE_SIZE = 50


class AuditLogIsAppendOnly(RuntimeError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member as they were at the time of the action."""

    staff_id: int | None
    email: str
    role: str
    client_ip: str | None = None


def _check(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    leaked = [key for key in values if _SECRET_KEY.search(key)]
    if leaked:
        raise ValueError(f"audit entries never hold secrets: {leaked}")
    return values


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str,
    card_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=clock.now(),
        staff_id=actor.staff_id,
        staff_email=actor.email,
        staff_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=target_id,
        card_id=card_id,
        before=_check(before),
        after=_check(after),
        reason=(reason or "").strip() or None,
        client_ip=actor.client_ip,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before_id: int | None


def search(session: Session, filters: AuditFilter, *, before_id: int | None = None) -> AuditPage:
    rows = list(repository.list_entries(session, filters, limit=PAGE_SIZE + 1, before_id=before_id))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return AuditPage(entries=rows, next_before_id=rows[-1].id if more and rows else None)


@event.listens_for(Session, "before_flush")
def _refuse_rewrites(session: Session, _context: Any, _instances: Any) -> None:
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, AuditEntry) and (
            instance in session.deleted or session.is_modified(instance, include_collections=False)
        ):
            raise AuditLogIsAppendOnly("audit_log entries are never changed or deleted")
