"""Suspending or resuming a dealer or a partner: one rule for both sellers. It is a state transition with
history and a staff action, so it is audited, as every staff action is."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.lifecycle import StateMachine


class Seller(Protocol):
    public_id: str


def set_status(
    session: Session, machine: StateMachine, kind: str, seller: Seller, status: StrEnum, *, actor: str
) -> bool:
    """Move `seller` ("dealer" or "partner", `kind`) between active and suspended; `actor` names who acted
    (`cli:<who>`), audited as an operator. False when it already had that status."""
    active, suspended = type(status)("active"), type(status)("suspended")
    source = suspended if status == active else active
    if not machine.transition(session, seller.public_id, source, status, reason=f"by {actor}"[:200]):
        return False
    audit.record(
        session,
        audit.Actor(staff_id=None, email=actor[:254], role="operator"),
        f"{kind}.{'suspended' if status == suspended else 'resumed'}",
        target_type=kind,
        target_id=seller.public_id,
        before={"status": source.value},
        after={"status": status.value},
    )
    session.flush()
    session.refresh(seller)
    return True
