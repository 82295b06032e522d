from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.models import Product


def list_active(session: Session) -> Sequence[Product]:
    return session.scalars(
        select(Product).where(Product.active.is_(True)).order_by(Product.sort_order, Product.id)
    ).all()


def get_active(session: Session, product_id: str) -> Product | None:
    product = session.get(Product, product_id)
    return product if product is not None and product.active else None


def list_all(session: Session) -> Sequence[Product]:
    return session.scalars(select(Product)).all()
