"""The sandbox gateway's hosted checkout page (what Alipay's or Stripe's page is for a real gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse

from roamcard.deps import ReadSessionDep, SessionDep
from roamcard.kit.money import Money
from roamcard.sandbox import service
from roamcard.sandbox.views import render_checkout

router = APIRouter(prefix="/sandbox", tags=["sandbox gateway"], include_in_schema=False)


@router.get("/checkout/{payment_id}", response_class=HTMLResponse)
def checkout_page(payment_id: str, session: ReadSessionDep) -> HTMLResponse:
    charge = service.get_checkout(session, payment_id)
    return HTMLResponse(render_checkout(charge, Money(charge.amount, charge.currency)))


@router.post("/checkout/{payment_id}")
def decide(
    payment_id: str, decision: Annotated[str, Form(pattern="^(approve|decline)$")], session: SessionDep
) -> RedirectResponse:
    charge = service.decide(session, payment_id, approve=decision == "approve")
    return RedirectResponse(charge.return_url or "/", status_code=303)
