"""Back-office refunds history (/admin/refunds/history): every refund, not only those waiting, filtered
by state, creation date, card (number or phone) and channel of the recharge, newest first and paged.
Finance and admin read it (`view_refunds`); deciding stays with finance on /admin/refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import BackOfficeRoute, Staff, _day, _page
from roamcard.backoffice.views import render
from roamcard.deps import SessionDep
from roamcard.i18n import lazy
from roamcard.models import Card, TopupOrder
from roamcard.refund import repository as refund_repository
from roamcard.refund.states import RefundKind, RefundStatus
from roamcard.staff.roles import Permission
from roamcard.topup.states import Channel

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

PAGE_SIZE = 50
STATUS_LABELS = {
    RefundStatus.REQUESTED: lazy("Waiting for a decision"),
    RefundStatus.APPROVED: lazy("Approved, not yet sent"),
    RefundStatus.PROCESSING: lazy("At the gateway"),
    RefundStatus.SUCCEEDED: lazy("Refunded"),
    RefundStatus.FAILED: lazy("Refund failed"),
    RefundStatus.REJECTED: lazy("Rejected"),
}
KIND_LABELS = {
    RefundKind.CUSTOMER: lazy("Asked by the card holder"),
    RefundKind.LATE_PAYMENT: lazy("Late payment"),
    RefundKind.CARD_CANCELLED: lazy("Card order cancelled"),
}
CHANNEL_LABELS = {
    Channel.API: lazy("App (API)"),
    Channel.WEB: lazy("Web portal"),
    Channel.VOUCHER: lazy("Recharge card"),
    Channel.IVR: lazy("Hotline"),
    Channel.AGENT: lazy("Customer service"),
    Channel.POS: lazy("Dealer till"),
    Channel.PARTNER: lazy("Partner platform"),
}


@router.get("/refunds/history")
def refund_history_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    status: Annotated[str, Query(max_length=20)] = "",
    card: Annotated[str, Query(max_length=40)] = "",
    channel: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    context.require(Permission.VIEW_REFUNDS)
    page = _page(request, context)
    card_ids: list[int] | None = None
    if card.strip():
        card_ids = [found.id for found in console.find_cards(session, card)]
    until_day = _day(until)
    filters = refund_repository.RefundFilter(
        status=status if status in set(RefundStatus) else None,
        card_ids=card_ids,
        channel=channel if channel in set(Channel) else None,
        since=_day(since),
        until=until_day + timedelta(days=1) if until_day else None,
    )
    rows = refund_repository.search(
        session, filters, offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
    )
    shown = list(rows[:PAGE_SIZE])
    orders = {
        order.id: order
        for order in session.scalars(select(TopupOrder).where(TopupOrder.id.in_({r.order_id for r in shown})))
    }
    cards = {c.id: c for c in session.scalars(select(Card).where(Card.id.in_({r.card_id for r in shown})))}
    return render(
        page,
        "refund_history.html",
        refunds=shown,
        orders=orders,
        cards=cards,
        statuses={s.value: page._(label) for s, label in STATUS_LABELS.items()},
        kinds={k.value: page._(label) for k, label in KIND_LABELS.items()},
        channels={c.value: page._(label) for c, label in CHANNEL_LABELS.items()},
        filters={
            "status": filters.status or "", "card": card, "channel": filters.channel or "",
            "since": since, "until": until,
        },
        page_number=page_number,
        has_next=len(rows) > PAGE_SIZE,
    )  # fmt: skip
