from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from roamcard.catalog import service
from roamcard.catalog.schemas import ProductOut
from roamcard.catalog.views import product_out
from roamcard.deps import ReadSessionDep
from roamcard.kit.money import SUPPORTED_CURRENCIES

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


@router.get("/products", response_model=list[ProductOut])
def list_products(
    session: ReadSessionDep,
    currency: Annotated[
        str | None,
        Query(pattern="^(" + "|".join(SUPPORTED_CURRENCIES) + ")$", description="ISO 4217: USD or CNY"),
    ] = None,
    kind: Annotated[
        str | None, Query(pattern=r"^starter$", description="starter: a new card's products (card orders)")
    ] = None,
) -> list[ProductOut]:
    products = service.products_for_currency(session, currency, starter=kind == "starter")
    return [product_out(p, currency) for p in products]
