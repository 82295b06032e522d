"""The back office's eSIM actions on a card (issue 13): a `supervisor` reissues a profile stuck in `error`
or deleted on the phone, or cancels a card order that was never delivered (a refund for `finance`).

Each runs in a savepoint and is audited either way (`esim.reissue`, `card_order.cancel`, or `….failed`
with the error's code), exactly like the card page's other actions (`backoffice.service.audited`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import NOTICES, BackOfficeRoute, CsrfChecked, Reason, Staff, act
from roamcard.card_order import cancel as card_order_cancel
from roamcard.deps import SessionDep
from roamcard.esim.service import reissue as esim_reissue
from roamcard.i18n import lazy
from roamcard.models import Card
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

NOTICES.update(
    {
        "reissued": lazy("A new eSIM profile was issued; the install link was sent by SMS."),
        "cancelled": lazy("The card order was cancelled; its refund waits for finance in the refunds queue."),
    }
)


def reissue(session: Session, context: StaffContext, card: Card, reason: str) -> esim_reissue.Reissued:
    def run() -> tuple[esim_reissue.Reissued, dict[str, Any]]:
        done = esim_reissue.reissue(session, card, reason=console.check_reason(reason))
        return done, {"old_iccid": done.old_iccid, "iccid": done.new_iccid, "reissues": done.reissues}

    return console.audited(
        session,
        context,
        Permission.REISSUE_ESIM,
        "esim.reissue",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before=None,
        run=run,
    )


def cancel(session: Session, context: StaffContext, card: Card, reason: str) -> card_order_cancel.Cancelled:
    def run() -> tuple[card_order_cancel.Cancelled, dict[str, Any]]:
        done = card_order_cancel.cancel(
            session, card, reason=console.check_reason(reason), staff_ref=context.staff.email
        )
        return done, {"order_id": done.order_id, "refund_id": done.refund_id, "card_status": "closed"}

    return console.audited(
        session,
        context,
        Permission.CANCEL_CARD_ORDER,
        "card_order.cancel",
        target_type="card",
        target_id=card.card_number,
        card=card,
        reason=reason,
        before={"card_status": card.status},
        run=run,
    )


@router.post("/cards/{card_number}/esim/reissue", dependencies=[CsrfChecked])
def reissue_esim(
    request: Request, session: SessionDep, context: Staff, card_number: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "reissued",
        lambda card: reissue(session, context, card, reason),
    )


@router.post("/cards/{card_number}/card-order/cancel", dependencies=[CsrfChecked])
def cancel_card_order(
    request: Request, session: SessionDep, context: Staff, card_number: str, reason: Reason
) -> Response:
    return act(
        request,
        session,
        context,
        card_number,
        "cancelled",
        lambda card: cancel(session, context, card, reason),
    )
