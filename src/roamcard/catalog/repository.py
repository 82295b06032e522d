from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.models import Product


def list_active(session: Session) -> Sequence[Product]:
    return session.scalars(
        select(Product).where(Product.active.is_(True)).order_by(Product.sort_order, Product.id)
    ).all()


def get_active(session: Session, product_id: str) -> Product | None:
    product = session.get(Product, product_id)
    return product if product is not None and product.active else None


@dataclass(frozen=True)
class ProductRow:
    """A product as the lean path reads it (the attributes of `Product` that pricing and an order use)."""

    id: str
    kind: str
    name_en: str
    name_zh: str
    grants: list[dict[str, Any]]
    prices: dict[str, int]
    custom_min: int | None
    custom_max: int | None
    unit_prices: dict[str, int]
    validity_days: int | None
    coverage: list[str]


# Products change only through `roamcard catalog load`, so nothing here is cached across transactions:
# one read by primary key is cheaper than keeping a cache right.
_ACTIVE_PRODUCT = (
    "SELECT id, kind, name_en, name_zh, grants, prices, custom_min, custom_max, unit_prices, "
    "validity_days, coverage FROM products WHERE id = :product_id AND active"
)


def active_product(tx: Tx, product_id: str) -> ProductRow | None:
    row = tx.one(_ACTIVE_PRODUCT, product_id=product_id)
    if row is None:
        return None
    found, kind, name_en, name_zh, grants, prices, low, high, unit_prices, validity, coverage = row
    return ProductRow(
        found,
        kind,
        name_en,
        name_zh,
        tx.loads(grants),
        tx.loads(prices),
        low,
        high,
        tx.loads(unit_prices),
        validity,
        tx.loads(coverage),
    )


def list_all(session: Session) -> Sequence[Product]:
    return session.scalars(select(Product)).all()
