from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roamcard.models import StaffMember, StaffSession


def get_by_email(session: Session, email: str) -> StaffMember | None:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one_or_none()


def list_all(session: Session) -> Sequence[StaffMember]:
    return session.scalars(select(StaffMember).order_by(StaffMember.email)).all()


def get_session(session: Session, token_hash: str) -> StaffSession | None:
    return session.scalars(select(StaffSession).where(StaffSession.token_hash == token_hash)).one_or_none()


def claim_totp_step(session: Session, staff_id: int, step: int) -> bool:
    """Remember the step of an accepted code; False when this step (or a later one) was already used, so
    the same code never signs in twice, even from two requests at once."""
    result = session.execute(
        update(StaffMember)
        .where(
            StaffMember.id == staff_id,
            (StaffMember.totp_last_step.is_(None)) | (StaffMember.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def revoke_sessions(session: Session, staff_id: int, now: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def count_admins(session: Session) -> int:
    """Enabled accounts with the admin role."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(StaffMember)
            .where(StaffMember.role == "admin", StaffMember.disabled_at.is_(None))
        )
        or 0
    )
