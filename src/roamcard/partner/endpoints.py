"""The partner API (docs/partners.md): every request signed like the POS API's (reseller/signing.py).

Each request is one unit of work in one thread hop: the signature and its nonce, then the work in a
savepoint (a refusal undoes only its own writes), then the call recorded for the back office; the nonce
and the record commit whatever the work did, and a refusal is raised after the commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from roamcard.db import Database, get_database, session_of, session_scope
from roamcard.errors import AppError
from roamcard.idempotency import service as idempotency
from roamcard.kit import clock
from roamcard.kit.schemas import MoneyOut
from roamcard.kit.sql import Tx
from roamcard.partner.repository import ApiPartner
from roamcard.partner.schemas import (
    PartnerProductOut,
    PartnerStatementOut,
    PartnerTopupCreate,
    PartnerTopupOut,
    PartnerValidation,
    QuoteOut,
)
from roamcard.partner.service import auth, topups
from roamcard.partner.service import statement as statements
from roamcard.partner.service.callbacks import body_of
from roamcard.reseller import auth as reseller_auth
from roamcard.responses import OrjsonResponse

router = APIRouter(prefix="/api/v1/partner", tags=["partner"])

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or bad signature, unknown or expired key, stale timestamp, reused nonce"},
    403: {"description": "Partner suspended, or the caller's address is not on the allow-list"},
}
TOPUP_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    402: {"description": "The float and credit limit cannot pay (insufficient_float); nothing is created"},
    409: {"description": "external_id reused with another body (idempotency_key_reused)"},
    422: {
        "description": "Invalid field: unknown card, card that cannot receive top-ups, product not allowed"
    },
}

_RECORD_CALL = (
    "INSERT INTO partner_calls (partner_id, method, path, status_code, code, called_at) "
    "VALUES (:partner_id, :method, :path, :status_code, :code, :now)"
)
Work = Callable[[Tx, ApiPartner], tuple[int, Any, dict[str, str]]]


def _signed(request: Request, raw: bytes, work: Work, *, orm: bool = False) -> Callable[[], Response]:
    """The unit of work of one signed request (run it with `database.run`). `work` returns the status, the
    body (a dict, or a str for CSV) and extra headers. `orm`: a read that needs the ORM (the statement)."""
    target, headers = reseller_auth.signed_parts(request)
    method, path = request.method, request.url.path
    client_ip = request.client.host if request.client else None
    database: Database = get_database()

    def unit() -> Response:
        refused: AppError | None = None
        opened = database.job_transaction() if orm else database.tx()
        with opened as tx:
            partner = auth.authenticate(tx, method=method, path=target, headers=headers, body=raw)
            try:
                with tx.savepoint(), session_scope(tx):  # a session opened by the work ends in it
                    auth.require_allowed(partner, client_ip)
                    code, body, extra = work(tx, partner)
            except AppError as error:  # committed below with the nonce, then raised
                refused = error
            tx.run(
                _RECORD_CALL,
                partner_id=partner.id,
                method=method,
                path=path[:300],
                status_code=refused.status_code if refused else code,
                code=refused.code if refused else None,
                now=clock.now(),
            )
        if refused is not None:
            raise refused
        if isinstance(body, str):
            return Response(body, status_code=code, media_type="text/csv; charset=utf-8", headers=extra)
        return OrjsonResponse(body, status_code=code, headers=extra)

    return unit


def _quote_out(partner: ApiPartner, priced: topups.Priced) -> dict[str, Any]:
    found = priced.quote
    return QuoteOut(
        product_id=found.product.id,
        price=MoneyOut.of(priced.price),
        list_price=MoneyOut.of(found.list_price) if found.list_price is not None else None,
        partner_cost=MoneyOut.of(priced.partner_cost),
        commission=MoneyOut.of(priced.commission),
        grants=found.grants,
    ).model_dump(mode="json")


@router.get("/products", response_model=list[PartnerProductOut], responses=AUTH_ERRORS)
async def list_products(
    request: Request,
    currency: Annotated[str | None, Query(description="Defaults to the partner's currency.")] = None,
) -> Response:
    """What this partner may sell, with the catalogue price, the partner's cost and its commission."""

    def work(tx: Tx, partner: ApiPartner) -> tuple[int, Any, dict[str, str]]:
        return 200, _products(tx, partner, currency or partner.currency), {}

    return await get_database().run(_signed(request, await request.body(), work, orm=True))


def _products(tx: Tx, partner: ApiPartner, currency: str) -> list[dict[str, Any]]:
    return [
        PartnerProductOut.of(product, currency, partner.commission_bps).model_dump(mode="json")
        for product in topups.sellable(session_of(tx), partner, currency)
    ]


@router.post("/validations", response_model=QuoteOut, responses=TOPUP_ERRORS)
async def validate(body: PartnerValidation, request: Request) -> Response:
    """A dry run: can this card receive this product now, and at what price? Nothing is created."""

    def work(tx: Tx, partner: ApiPartner) -> tuple[int, Any, dict[str, str]]:
        priced = topups.validate(tx, partner, **body.model_dump())
        return 200, _quote_out(partner, priced), {}

    return await get_database().run(_signed(request, await request.body(), work))


@router.post(
    "/topups", status_code=status.HTTP_201_CREATED, response_model=PartnerTopupOut, responses=TOPUP_ERRORS
)
async def create_topup(body: PartnerTopupCreate, request: Request) -> Response:
    """Top up a card from the partner's float. `external_id` is the idempotency key: a retry with the same
    body replays the first answer (`Idempotent-Replayed: true`); with another body it is a 409."""
    path = request.url.path

    def work(tx: Tx, partner: ApiPartner) -> tuple[int, Any, dict[str, str]]:
        stored = idempotency.run_once(
            tx,
            scope=f"partner:{partner.id}:topups",
            key=body.external_id,
            fingerprint=idempotency.request_fingerprint("POST", path, body.model_dump(mode="json")),
            create=lambda: (
                status.HTTP_201_CREATED,
                body_of(topups.create(tx, partner, **body.model_dump())),
            ),
        )
        return stored.status_code, stored.body, {"Idempotent-Replayed": "true"} if stored.replayed else {}

    return await get_database().run(_signed(request, await request.body(), work))


@router.get(
    "/topups/{external_id}",
    response_model=PartnerTopupOut,
    responses={**AUTH_ERRORS, 404: {"description": "No top-up with this external_id"}},
)
async def get_topup(external_id: str, request: Request) -> Response:
    """The top-up's status at any time: polling always works, callbacks or not."""

    def work(tx: Tx, partner: ApiPartner) -> tuple[int, Any, dict[str, str]]:
        return 200, body_of(topups.get(tx, partner, external_id)), {}

    return await get_database().run(_signed(request, await request.body(), work))


@router.get(
    "/statement",
    response_model=PartnerStatementOut,
    responses={**AUTH_ERRORS, 200: {"content": {"text/csv": {}}}, 422: {}},
)
async def get_statement(
    request: Request,
    day: Annotated[date, Query(alias="date", description="The day, in the partner's time zone.")],
) -> Response:
    """Every top-up of the day, the float's movements and balances; `Accept: text/csv` for CSV."""
    wants_csv = "text/csv" in request.headers.get("accept", "")

    def work(tx: Tx, partner: ApiPartner) -> tuple[int, Any, dict[str, str]]:
        found = statements.statement(session_of(tx), partner, day)
        if wants_csv:
            disposition = f'attachment; filename="roamcard-{partner.public_id}-{day.isoformat()}.csv"'
            return 200, statements.as_csv(found), {"Content-Disposition": disposition}
        return 200, PartnerStatementOut.model_validate(statements.as_json(found)).model_dump(mode="json"), {}

    return await get_database().run(_signed(request, await request.body(), work, orm=True))
