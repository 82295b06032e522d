"""Gateway notifications: verify on the raw body, store in the inbox, answer fast."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from roamcard.db import get_database
from roamcard.deps import ClientIP, ReadSessionDep, SessionDep
from roamcard.errors import AppError
from roamcard.payment import links, qr, service, webhooks
from roamcard.responses import OrjsonResponse

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def _raw_body(request: Request) -> bytes:
    """The exact bytes received: signatures are checked on these, never on re-serialised JSON."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@router.post(
    "/sandbox",
    responses={
        400: {"description": "Bad signature or body"},
        404: {"description": "Unknown payment"},
    },
)
async def sandbox_notification(
    request: Request,
    roamcard_signature: Annotated[str | None, Header(alias="Roamcard-Signature")] = None,
) -> OrjsonResponse:
    raw_body = await request.body()
    database = get_database()
    accepted = await database.run(
        partial(service.receive_sandbox_notification, database, raw_body, roamcard_signature)
    )
    return OrjsonResponse({"received": True, "duplicate": not accepted})


@router.post(
    "/alipay",
    response_class=PlainTextResponse,
    responses={
        400: {"description": "Bad signature, malformed body, or another merchant's"},
        404: {"description": "Unknown payment, or Alipay not configured"},
    },
)
def alipay_notification(raw_body: RawBody, session: SessionDep) -> PlainTextResponse:
    """Alipay's asynchronous notification (form-encoded). Alipay wants exactly `success` back."""
    webhooks.accept_alipay_notification(session, raw_body)
    return PlainTextResponse("success")


@router.post(
    "/wechat_pay",
    status_code=204,
    responses={
        400: {"description": "Bad signature, stale timestamp, undecryptable resource, another merchant's"},
        404: {"description": "Unknown payment or refund, or WeChat Pay not configured"},
    },
)
def wechat_pay_notification(raw_body: RawBody, request: Request, session: SessionDep) -> Response:
    """WeChat Pay API v3 notification (payments and refunds). 204 tells WeChat Pay it was received."""
    webhooks.accept_wechat_pay_notification(session, raw_body, request.headers)
    return Response(status_code=204)


@router.post(
    "/stripe",
    responses={
        400: {"description": "Bad Stripe-Signature, stale timestamp, another account"},
        404: {"description": "Unknown payment or refund, or Stripe not configured"},
    },
)
def stripe_notification(
    raw_body: RawBody,
    session: SessionDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> OrjsonResponse:
    accepted = webhooks.accept_stripe_notification(session, raw_body, stripe_signature)
    return OrjsonResponse({"received": True, "duplicate": not accepted})


# -- the QR page a desktop payer scans (WeChat Pay Native; any payment with a QR code) -------------
pay_router = APIRouter(prefix="/pay", tags=["checkout"], include_in_schema=False)


# -- the payment link texted by the hotline and agents: our page, which opens the checkout ------------
@pay_router.get("/link/{token}", response_class=HTMLResponse)
def payment_link_page(token: str, session: ReadSessionDep) -> HTMLResponse:
    try:
        return HTMLResponse(links.render_page(links.view(session, token)))
    except AppError as error:
        return HTMLResponse(links.render_error(error.detail()), status_code=error.status_code)


@pay_router.post("/link/{token}", response_class=HTMLResponse)
def open_payment_link(token: str, ip: ClientIP) -> Response:
    """Spends the single-use token, opens the checkout (no transaction open while the gateway answers)
    and sends the traveller there."""
    try:
        return RedirectResponse(links.open_link(get_database(), token, client_ip=ip), status_code=303)
    except AppError as error:
        return HTMLResponse(links.render_error(error.detail()), status_code=error.status_code)


@pay_router.get("/{payment_id}", response_class=HTMLResponse)
def qr_page(payment_id: str, session: ReadSessionDep) -> HTMLResponse:
    return HTMLResponse(qr.render_page(session, payment_id))
