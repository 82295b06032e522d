"""Back-office pages for promotions (/admin/campaigns): every role sees the campaigns with their live
counters and previews a price; supervisors and admins pause, resume and end a campaign (audited, with a
reason; `office_status`, which survives reloads of the campaign file). The same shape as the other
routes: the session and role are types in the signature, one service call, a page or a redirect; forms
are CSRF-checked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import (
    BackOfficeRoute,
    CsrfChecked,
    Reason,
    Staff,
    _describe,
    _page,
    _see_other,
)
from roamcard.backoffice.views import render
from roamcard.catalog import repository as catalog_repository
from roamcard.deps import SessionDep
from roamcard.errors import AppError
from roamcard.i18n import lazy
from roamcard.promotion.schemas import breakdown
from roamcard.promotion.service import office
from roamcard.promotion.states import CampaignStatus
from roamcard.staff import service as staff_service
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext
from roamcard.topup.states import Channel

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

ACTIONS = {
    "pause": CampaignStatus.PAUSED,
    "resume": CampaignStatus.ACTIVE,
    "end": CampaignStatus.ENDED,
}
NOTICES = {
    "pause": lazy("The campaign is paused. A reload of the campaign file does not resume it."),
    "resume": lazy("The campaign is active again in the back office."),
    "end": lazy("The campaign is ended. A reload of the campaign file does not bring it back."),
}
CHANNELS = [c.value for c in Channel]


@router.get("/campaigns")
def campaigns_page(request: Request, session: SessionDep, context: Staff) -> Response:
    context.require(Permission.VIEW_CAMPAIGNS)
    return render(_page(request, context), "campaigns.html", reports=office.reports(session))


def _campaign_page(
    request: Request,
    session: Session,
    context: StaffContext,
    campaign_id: str,
    *,
    notice: str | None = None,
    error: AppError | None = None,
) -> Response:
    found = office.reports(session, campaign_id)
    if not found:
        raise office.CampaignNotFound()
    page = _page(request, context)
    return render(
        page,
        "campaign.html",
        status_code=error.status_code if error else 200,
        report=found[0],
        notice=page._(NOTICES[notice]) if notice in NOTICES else None,
        error=_describe(error) if error else None,
    )


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    campaign_id: str,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context.require(Permission.VIEW_CAMPAIGNS)
    return _campaign_page(request, session, context, campaign_id, notice=done)


@router.post("/campaigns/{campaign_id}/status", dependencies=[CsrfChecked])
def change_status(
    request: Request,
    session: SessionDep,
    context: Staff,
    campaign_id: str,
    action: Annotated[str, Form(max_length=10)],
    reason: Reason,
) -> Response:
    try:
        set_status(session, context, campaign_id, action, reason)
    except AppError as error:
        if isinstance(error, staff_service.StaffForbidden | office.CampaignNotFound):
            raise
        return _campaign_page(request, session, context, campaign_id, error=error)
    return _see_other(f"/admin/campaigns/{campaign_id}?done={action}")


def set_status(session: Session, context: StaffContext, campaign_id: str, action: str, reason: str) -> None:
    """Pause, resume or end, audited as `campaign.paused` / `.resumed` / `.ended` (or `….failed`)."""
    context.require(Permission.MANAGE_CAMPAIGNS)
    if action not in ACTIONS:
        raise office.CampaignStatusUnchanged(current="?", target=action[:10])
    before = office.get(session, campaign_id)
    verb = {"pause": "paused", "resume": "resumed", "end": "ended"}[action]

    def run() -> tuple[None, dict[str, Any]]:
        after = office.set_office_status(
            session, campaign_id, ACTIONS[action], staff_ref=context.staff.email, reason=reason
        )
        return None, {"office_status": after.office_status}

    console.audited(
        session,
        context,
        Permission.MANAGE_CAMPAIGNS,
        f"campaign.{verb}",
        target_type="campaign",
        target_id=campaign_id,
        card=None,
        reason=reason,
        before={"office_status": before.office_status, "file_status": before.file_status},
        run=run,
    )


@router.get("/campaigns-preview")
def preview_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    card: Annotated[str, Query(max_length=40)] = "",
    product_id: Annotated[str, Query(max_length=64)] = "",
    currency: Annotated[str, Query(max_length=3)] = "",
    amount: Annotated[str, Query(max_length=12)] = "",
    channel: Annotated[str, Query(max_length=16)] = "web",
    payment_method: Annotated[str, Query(max_length=32)] = "",
    promo_code: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """ "What would card X pay for product Y now, through channel Z?" — the quote step itself. Looking at
    a card is audited (`campaign.previewed`), as opening its file is."""
    context.require(Permission.VIEW_CAMPAIGNS)
    page = _page(request, context)
    form = {
        "card": card,
        "product_id": product_id,
        "currency": currency,
        "amount": amount,
        "channel": channel if channel in CHANNELS else "web",
        "payment_method": payment_method,
        "promo_code": promo_code,
    }
    products = [p for p in catalog_repository.list_active(session) if p.kind != "starter"]
    context_: dict[str, Any] = {"form": form, "products": products, "channels": CHANNELS}
    if not (card.strip() and product_id):
        return render(page, "campaign_preview.html", result=None, error=None, **context_)
    try:
        found = console.get_card(session, card.strip())
        quoted = office.preview(
            session,
            found,
            product_id=product_id,
            currency=(currency or found.currency).upper(),
            amount=int(amount) if amount.strip().isdecimal() else None,
            channel=form["channel"],
            payment_method=payment_method,
            promo_code=promo_code,
        )
    except AppError as error:
        return render(
            page, "campaign_preview.html", status_code=error.status_code, result=None, error=_describe(error),
            **context_,
        )  # fmt: skip
    audit.record(
        session,
        context.actor,
        "campaign.previewed",
        target_type="card",
        target_id=found.card_number,
        card_id=found.id,
        after={"product_id": product_id, "channel": form["channel"], "charge": quoted.price.amount},
    )
    discounts, bonuses = breakdown(quoted.promotions, page.language)
    result = {
        "card": found,
        "list_price": quoted.list_price or quoted.price,
        "charge": quoted.price,
        "discounts": discounts,
        "bonuses": bonuses,
    }
    return render(page, "campaign_preview.html", result=result, error=None, **context_)
