"""Suspending or resuming a dealer or a partner is a staff action: audited, as every staff action is."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.audit import service as audit


def audit_status_change(
    session: Session, kind: str, public_id: str, before: str, after: str, actor: str
) -> None:
    """`kind` is "dealer" or "partner"; `actor` names who acted (`cli:<who>`), recorded as an operator."""
    audit.record(
        session,
        audit.Actor(staff_id=None, email=actor[:254], role="operator"),
        f"{kind}.{'suspended' if after == 'suspended' else 'resumed'}",
        target_type=kind,
        target_id=public_id,
        before={"status": before},
        after={"status": after},
    )
