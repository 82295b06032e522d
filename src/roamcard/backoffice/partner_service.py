"""Back office, partners (partner_endpoints.py): what it shows of partners (recent calls and callbacks)
and does (replay a dead callback, audited). Seen and done with the "payments needing attention"
permission (supervisors, finance, admins): a dead callback is one of those."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.backoffice.service import check_reason
from roamcard.errors import Conflict, NotFound
from roamcard.models import (
    Partner,
    PartnerCall,
    PartnerCallback,
    PartnerCallbackAttempt,
    PartnerTopup,
)
from roamcard.partner import repository
from roamcard.partner.service import callbacks
from roamcard.partner.service.manage import float_account
from roamcard.partner.states import CallbackStatus
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext

PERMISSION = Permission.VIEW_PAYMENT_ISSUES


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    message = "There is no such partner."


class CallbackNotFound(NotFound):
    code = "partner_callback_not_found"
    message = "There is no such callback."


class CallbackNotDead(Conflict):
    code = "partner_callback_not_dead"
    message = "Only a dead callback can be replayed."


@dataclass(frozen=True)
class PartnerLine:
    partner: Partner
    float_balance: int


@dataclass(frozen=True)
class CallbackLine:
    callback: PartnerCallback
    topup: PartnerTopup
    attempts: list[PartnerCallbackAttempt]


@dataclass(frozen=True)
class PartnerDetail:
    partner: Partner
    float_balance: int
    calls: list[PartnerCall]
    callbacks: list[CallbackLine]


def partners(session: Session, context: StaffContext) -> list[PartnerLine]:
    context.require(PERMISSION)
    return [PartnerLine(p, float_account(session, p).balance) for p in repository.list_partners(session)]


def detail(session: Session, context: StaffContext, public_id: str) -> PartnerDetail:
    context.require(PERMISSION)
    partner = repository.get_by_public_id(session, public_id)
    if partner is None:
        raise PartnerNotFound()
    lines = [
        CallbackLine(callback, topup, list(repository.attempts_of(session, callback.id)))
        for callback, topup in repository.recent_callbacks(session, partner.id)
    ]
    return PartnerDetail(
        partner,
        float_account(session, partner).balance,
        list(repository.recent_calls(session, partner.id)),
        lines,
    )


def replay_callback(
    session: Session, context: StaffContext, public_id: str, reason: str | None
) -> PartnerCallback:
    """dead -> pending with a new retry window; audited (the staff member, the reason, before and after)."""
    context.require(PERMISSION)
    text = check_reason(reason)
    found = repository.get_callback(session, public_id)
    if found is None:
        raise CallbackNotFound()
    before: dict[str, Any] = {"status": found.status, "attempts": found.attempts}
    if found.status != CallbackStatus.DEAD.value or not callbacks.replay(
        session, public_id, reason=f"replayed by {context.staff.email}: {text}"
    ):
        raise CallbackNotDead()
    session.refresh(found)
    audit.record(
        session,
        context.actor,
        "partner.callback_replayed",
        target_type="partner_callback",
        target_id=public_id,
        before=before,
        after={"status": found.status, "attempts": found.attempts},
        reason=text,
    )
    return found
