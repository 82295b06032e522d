from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import Response

from roamcard.card_order import service
from roamcard.card_order.schemas import CardOrderCreate, CardOrderOut, CardOut
from roamcard.card_order.service import PlacedOrder
from roamcard.db import get_database
from roamcard.deps import SessionDep
from roamcard.idempotency import service as idempotency
from roamcard.kit.schemas import MoneyOut
from roamcard.payment.client import client_context
from roamcard.responses import OrjsonResponse
from roamcard.topup.schemas import PaymentOut

router = APIRouter(prefix="/api/v1", tags=["card orders"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing or malformed Idempotency-Key"},
    409: {"description": "esim_out_of_stock, or the Idempotency-Key reused with a different body"},
    422: {"description": "Invalid field (not a starter product, currency, phone, payment method)"},
    429: {"description": "Too many new cards from this client (too_many_card_orders)"},
    502: {"description": "The payment provider refused to open the payment"},
}


def _created(placed: PlacedOrder) -> dict[str, Any]:
    order, payment = placed.order, placed.payment
    # While open, the order's status is its payment's as the top-up order has it (unknown included).
    status = order.status if order.status in ("pending_payment", "unknown") else placed.status
    return CardOrderOut(
        id=placed.id,
        status=status,
        product_id=order.product_id,
        price=MoneyOut(amount=order.price_amount, currency=order.price_currency),
        created_at=order.created_at,
        pay_by=order.pay_by,
        paid_at=None,
        fulfilled_at=None,
        payment=PaymentOut(
            id=payment.id,
            provider=payment.provider,
            status=payment.status,
            checkout_url=payment.checkout_url,
            qr_code=payment.qr_code,
        ),
    ).model_dump(mode="json")


@router.post(
    "/card-orders", status_code=status.HTTP_201_CREATED, response_model=CardOrderOut, responses=ERRORS
)
async def create(
    body: CardOrderCreate,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Buy a new travel card (no sign-in). A profile is reserved now: an empty stock answers 409
    `esim_out_of_stock` before anyone pays. Keep `order_token`: it is the only way to read the order."""
    database = get_database()
    key = idempotency.validate_key(idempotency_key)
    fingerprint = idempotency.request_fingerprint("POST", request.url.path, body.model_dump(mode="json"))
    client = client_context(request)
    stored = await database.run(
        lambda: service.place_card_order(
            database, key=key, fingerprint=fingerprint, render=_created, client=client, **body.model_dump()
        )
    )
    answer = dict(stored.body)
    if stored.status_code == 201 and "id" in answer:
        answer["order_token"] = service.order_token(answer["id"])
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    headers["Cache-Control"] = "no-store"
    return OrjsonResponse(answer, status_code=stored.status_code, headers=headers)


@router.get(
    "/card-orders/{order_id}",
    response_model=CardOrderOut,
    responses={401: {"description": "No or wrong order token (order_token_refused)"}},
)
def get_card_order(
    order_id: str, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    view = service.read(session, order_id, service.bearer(authorization))
    out = CardOrderOut(
        id=view.id,
        status=view.status,
        product_id=view.product_id,
        price=MoneyOut(amount=view.price_amount, currency=view.price_currency),
        created_at=view.created_at,
        pay_by=view.pay_by,
        paid_at=view.paid_at,
        fulfilled_at=view.fulfilled_at,
        payment=PaymentOut(**view.payment) if view.payment else None,
        card=CardOut(card_number=view.card_number, msisdn=view.msisdn, install_url=service.install_url())
        if view.card_number
        else None,
        password=view.password,
    )
    return OrjsonResponse(out.model_dump(mode="json"), headers={"Cache-Control": "private, no-store"})
