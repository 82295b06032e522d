from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from roamcard.db import get_database
from roamcard.deps import ClientIP, CurrentCard, ReadSessionDep, TokenDep
from roamcard.idempotency import service as idempotency
from roamcard.payment.client import client_context
from roamcard.responses import OrjsonResponse
from roamcard.topup import receipt
from roamcard.topup.schemas import QuoteCreate, QuoteOut, TopupCreate, TopupOut, TopupPage
from roamcard.topup.service import read
from roamcard.topup.service.create import place_quote, place_topup

router = APIRouter(prefix="/api/v1", tags=["top-ups"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing or malformed Idempotency-Key"},
    401: {"description": "Not signed in"},
    403: {"description": "The card is suspended (card_suspended)"},
    409: {"description": "Idempotency-Key reused with a different body; quote_expired"},
    422: {"description": "Invalid field (unknown product, currency, amount out of range, promo_code_…)"},
    429: {"description": "Too many wrong promo codes from this card or client (promo_code_locked)"},
}


@router.post(
    "/topups",
    status_code=status.HTTP_201_CREATED,
    response_model=TopupOut,
    responses={**ERRORS, 502: {"description": "The payment provider refused to open the payment"}},
)
async def create(
    body: TopupCreate,
    request: Request,
    token: TokenDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    # The lean path: the token is checked inside the create's own transaction (its first statement; the
    # card must be active), and the whole unit of work is one hop off the event loop.
    database = get_database()
    key = idempotency.validate_key(idempotency_key)
    fingerprint = idempotency.request_fingerprint("POST", request.url.path, body.model_dump(mode="json"))
    client = client_context(request)
    stored = await database.run(
        lambda: place_topup(
            database,
            token,
            scope=lambda card_id: f"card:{card_id}:topups",
            key=key,
            fingerprint=fingerprint,
            render=lambda order, payment: TopupOut.of(order, payment).model_dump(mode="json"),
            client=client,
            **body.model_dump(),
        )
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return OrjsonResponse(stored.body, status_code=stored.status_code, headers=headers)


@router.post(
    "/quotes",
    status_code=status.HTTP_201_CREATED,
    response_model=QuoteOut,
    responses={
        401: ERRORS[401],
        403: ERRORS[403],
        422: {"description": "Invalid field; a promo code that does not apply says why (promo_code_…)"},
        429: ERRORS[429],
    },
)
async def create_quote(body: QuoteCreate, token: TokenDep, client_key: ClientIP) -> Response:
    """The price this card would pay, promotions applied, held for 15 minutes (send its id as
    `quote_id` when creating the top-up)."""
    database = get_database()
    saved = await database.run(
        lambda: place_quote(database, token, client_key=client_key, **body.model_dump())
    )
    return OrjsonResponse(QuoteOut.of(saved).model_dump(mode="json"), status_code=201)


@router.get("/topups", response_model=TopupPage)
def list_topups(
    card: CurrentCard,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> TopupPage:
    page = read.history(session, card, limit=limit, cursor=cursor)
    return TopupPage(data=[TopupOut.of(o, p) for o, p in page.items], next_cursor=page.next_cursor)


@router.get("/topups/{topup_id}", response_model=TopupOut, responses={404: {"description": "No such top-up"}})
def get_topup(topup_id: str, card: CurrentCard, session: ReadSessionDep) -> TopupOut:
    return TopupOut.of(*read.get_topup(session, card, topup_id))


@router.get("/topups/{topup_id}/receipt", response_class=HTMLResponse)
def receipt_html(topup_id: str, card: CurrentCard, session: ReadSessionDep) -> HTMLResponse:
    order, payment = read.get_topup(session, card, topup_id)
    return HTMLResponse(receipt.render_html(receipt.build(session, card, order, payment)))


@router.get("/topups/{topup_id}/receipt.pdf", response_class=Response)
def receipt_pdf(topup_id: str, card: CurrentCard, session: ReadSessionDep) -> Response:
    order, payment = read.get_topup(session, card, topup_id)
    pdf = receipt.render_pdf(receipt.build(session, card, order, payment))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="roamcard-receipt-{order.id}.pdf"'},
    )
