"""The sandbox gateway's hosted checkout page (what Alipay's or Stripe's page is for a real gateway).
Its URL carries a signed single-use token bound to the payment; the decision spends it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse

from roamcard.deps import ReadSessionDep, SessionDep
from roamcard.kit.money import Money
from roamcard.sandbox import service
from roamcard.sandbox.views import render_checkout

router = APIRouter(prefix="/sandbox", tags=["sandbox gateway"], include_in_schema=False)


@router.get("/checkout/{token}", response_class=HTMLResponse)
def checkout_page(token: str, session: ReadSessionDep) -> HTMLResponse:
    charge = service.get_checkout(session, token)
    return HTMLResponse(render_checkout(charge, Money(charge.amount, charge.currency)))


@router.post("/checkout/{token}")
def decide(
    token: str, decision: Annotated[str, Form(pattern="^(approve|decline)$")], session: SessionDep
) -> RedirectResponse:
    charge = service.decide(session, token, approve=decision == "approve")
    return RedirectResponse(charge.return_url or "/", status_code=303)
