"""The dealer POS API: every request signed by the till (reseller/signing.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from roamcard.db import get_database
from roamcard.dealer.repository import PosDealer
from roamcard.dealer.schemas import (
    PosStatementOut,
    PosTopupCreate,
    PosTopupOut,
    PosVoucherSaleOut,
    PosVoucherSell,
)
from roamcard.dealer.service import auth, sales
from roamcard.dealer.service.statement import statement as dealer_statement
from roamcard.deps import ReadSessionDep
from roamcard.idempotency import service as idempotency
from roamcard.kit.sql import Tx
from roamcard.models import Card
from roamcard.reseller import auth as reseller_auth
from roamcard.responses import OrjsonResponse

router = APIRouter(prefix="/api/v1/pos", tags=["dealer POS"])

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or bad signature, timestamp outside the window, replayed nonce"},
    403: {"description": "Dealer suspended"},
}
SALE_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: {"description": "Unknown card or recharge card"},
    402: {"description": "Float too low (insufficient_float)"},
    409: {"description": "Card suspended, recharge card not sellable, external_id reused with another body"},
    422: {"description": "Invalid field"},
}


async def _signed_dealer(request: Request) -> PosDealer:
    """Verify the till's signature on the exact bytes received (path and query as sent)."""
    body = await request.body()
    target, headers = reseller_auth.signed_parts(request)

    def check() -> PosDealer:
        with get_database().tx() as tx:  # the nonce is burnt whatever happens next
            dealer = auth.authenticate(tx, method=request.method, path=target, headers=headers, body=body)
        return auth.require_active(dealer)

    return await run_in_threadpool(check)


CurrentDealer = Annotated[PosDealer, Depends(_signed_dealer)]


def _respond(stored: idempotency.StoredResponse) -> Response:
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return OrjsonResponse(stored.body, status_code=stored.status_code, headers=headers)


async def _signed_sale(
    request: Request,
    body: PosTopupCreate | PosVoucherSell,
    sell: Callable[[Tx, PosDealer], tuple[int, dict[str, Any]]],
) -> Response:
    """A sale on the lean path: signature, nonce, float debit and order in one `database.tx()` and one
    thread hop. The sale runs in a savepoint, so a refused sale undoes only its own writes and the nonce
    stays burnt (the transaction commits, then the refusal is raised)."""
    raw = await request.body()
    target, headers = reseller_auth.signed_parts(request)
    database = get_database()
    scope_path = request.url.path

    def unit() -> idempotency.StoredResponse:
        with database.tx() as tx:
            dealer = auth.authenticate(tx, method=request.method, path=target, headers=headers, body=raw)
            try:
                with tx.savepoint():
                    auth.require_active(dealer)
                    return idempotency.run_once(
                        tx,
                        scope=f"dealer:{dealer.id}:pos",
                        key=body.external_id,
                        fingerprint=idempotency.request_fingerprint(
                            "POST", scope_path, body.model_dump(mode="json")
                        ),
                        create=lambda: sell(tx, dealer),
                    )
            except Exception as error:  # committed below with the nonce, then raised
                refused = error
        raise refused

    return _respond(await database.run(unit))


@router.post(
    "/topups", status_code=status.HTTP_201_CREATED, response_model=PosTopupOut, responses=SALE_ERRORS
)
async def create_topup(body: PosTopupCreate, request: Request) -> Response:
    """Top up a card from the dealer's float. `external_id` is the idempotency key: a retry with the same
    body replays the first answer; the same `external_id` with another body is a 409."""

    def sell(tx: Tx, dealer: PosDealer) -> tuple[int, dict[str, Any]]:
        sale, order = sales.topup(tx, dealer, **body.model_dump())
        return status.HTTP_201_CREATED, PosTopupOut.of(sale, order, body.card_number).model_dump(mode="json")

    return await _signed_sale(request, body, sell)


@router.post(
    "/vouchers/sell",
    status_code=status.HTTP_201_CREATED,
    response_model=PosVoucherSaleOut,
    responses=SALE_ERRORS,
)
async def sell_voucher(body: PosVoucherSell, request: Request) -> Response:
    """Activate one recharge card for a sale, paid from the float."""

    def sell(tx: Tx, dealer: PosDealer) -> tuple[int, dict[str, Any]]:
        sale, batch = sales.sell_voucher(tx, dealer, external_id=body.external_id, serial=body.serial)
        return status.HTTP_201_CREATED, PosVoucherSaleOut.of(sale, batch, "active").model_dump(mode="json")

    return await _signed_sale(request, body, sell)


@router.get(
    "/topups/{external_id}",
    response_model=PosTopupOut,
    responses={**AUTH_ERRORS, 404: {"description": "No top-up with this external_id"}},
)
def get_topup(external_id: str, dealer: CurrentDealer, session: ReadSessionDep) -> PosTopupOut:
    sale, order = sales.get_topup(session, dealer, external_id)
    card = session.get(Card, order.card_id)
    assert card is not None
    return PosTopupOut.of(sale, order, card.card_number)


@router.get("/statement", response_model=PosStatementOut, responses={**AUTH_ERRORS, 422: {}})
def get_statement(
    dealer: CurrentDealer,
    session: ReadSessionDep,
    day: Annotated[date, Query(alias="date", description="The day, in the dealer's time zone.")],
) -> PosStatementOut:
    return PosStatementOut.of(dealer_statement(session, dealer, day))
