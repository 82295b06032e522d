"""The product catalogue: loaded from an operator-edited TOML file, read by every channel."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from roamcard.catalog import repository
from roamcard.catalog.schemas import CatalogFile
from roamcard.kit import clock
from roamcard.models import Product, RatingGroup, RatingZone

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "data" / "demo_catalog.toml"


class CatalogFileError(ValueError):
    pass


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    deactivated: int


def parse_catalog(path: Path) -> CatalogFile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogFileError(f"{path}: {exc}") from exc
    try:
        return CatalogFile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise CatalogFileError(f"{path}:\n  " + "\n  ".join(lines)) from exc


def load_catalog(session: Session, path: Path) -> LoadResult:
    """Upsert every product in the file; products no longer listed are deactivated, never deleted
    (orders keep pointing at them)."""
    catalog = parse_catalog(path)
    now = clock.now()
    existing = {p.id: p for p in repository.list_all(session)}
    created = updated = 0
    for item in catalog.products:
        values = item.model_dump(mode="json")
        product = existing.get(item.id)
        if product is None:
            session.add(Product(**values, active=True, updated_at=now))
            created += 1
            continue
        for field, value in values.items():
            setattr(product, field, value)
        product.active = True
        product.updated_at = now
        updated += 1
    listed = {p.id for p in catalog.products}
    deactivated = 0
    for product_id, product in existing.items():
        if product_id not in listed and product.active:
            product.active = False
            product.updated_at = now
            deactivated += 1
    _load_rating(session, catalog)
    session.flush()
    return LoadResult(created=created, updated=updated, deactivated=deactivated)


def _load_rating(session: Session, catalog: CatalogFile) -> None:
    """Rating groups and zones are replaced by the file's (charging reads them per request)."""
    now = clock.now()
    session.execute(delete(RatingGroup))
    session.execute(delete(RatingZone))
    for group in catalog.rating_groups:
        session.add(RatingGroup(rating_group=group.rating_group, kind=group.kind, updated_at=now))
    for zone in catalog.zones:
        prices = {currency: price.model_dump() for currency, price in zone.prices.items()}
        session.add(RatingZone(code=zone.code, countries=list(zone.countries), prices=prices, updated_at=now))


def products_for_currency(
    session: Session, currency: str | None, *, starter: bool = False
) -> Sequence[Product]:
    """What a card can buy (`starter`: what a new card can be bought with, a card order's products)."""
    products = [p for p in repository.list_active(session) if (p.kind == "starter") == starter]
    if currency is None:
        return products
    return [p for p in products if currency in (p.unit_prices if p.custom_min is not None else p.prices)]
