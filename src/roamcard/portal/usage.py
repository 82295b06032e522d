"""The usage page: what the card used per UTC day and kind, and what paid for it (a pack, the balance, or
nothing for an emergency call), from the same service as `GET /api/v1/card/usage`
(charging/service/usage.py), over a date range the reader picks (default: the last 7 days)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.charging.service import usage
from roamcard.charging.service.rating import KIND_ASSET
from roamcard.charging.states import GrantSource
from roamcard.errors import ValidationFailed
from roamcard.i18n import lazy
from roamcard.kit import clock
from roamcard.lifecycle import as_tx
from roamcard.models import Card, Product
from roamcard.portal.views import View, render

DEFAULT_DAYS = 7
KIND_LABELS = {"data": lazy("Data"), "voice": lazy("Calls"), "sms": lazy("SMS")}


@dataclass
class UsageQuery:
    date_from: str
    date_to: str
    first: date | None = None
    last: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageRow:
    date: str
    kind: str
    label: str
    used: str
    paid_by: list[str]


def parse_query(view: View, params: dict[str, str]) -> UsageQuery:
    today = clock.now().date()
    week_ago = today - timedelta(days=DEFAULT_DAYS - 1)
    query = UsageQuery(
        date_from=params.get("from", "").strip()[:10] or week_ago.isoformat(),
        date_to=params.get("to", "").strip()[:10] or today.isoformat(),
    )
    for name, text in (("from", query.date_from), ("to", query.date_to)):
        try:
            value = date.fromisoformat(text)
        except ValueError:
            query.errors[name] = view._("Enter a date like 2026-01-31.")
            continue
        if name == "from":
            query.first = value
        else:
            query.last = value
    return query


def _product_names(session: Session, view: View, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Product.id, Product.name_zh, Product.name_en).where(Product.id.in_(ids)))
    return {pid: (zh if view.language == "zh-CN" else en) for pid, zh, en in rows}


def _paid_by(view: View, kind: str, paid: dict[str, Any], names: dict[str, str]) -> str:
    units = view.amount(KIND_ASSET[kind].value, int(paid["units"]))
    if paid["source"] == GrantSource.PACK:
        product = paid.get("product_id")
        pack = names.get(product, product) if product else view._("Pack")
        return view._("{units} from pack {pack}", units=units, pack=pack)
    if paid["source"] == GrantSource.BALANCE:
        amount = paid["amount"]
        return view._(
            "{units} from the balance ({amount})",
            units=units,
            amount=view.money(int(amount["amount"]), amount["currency"] or "USD"),
        )
    return view._("{units}: emergency call, free", units=units)


def rows_for(session: Session, view: View, card_id: int, first: date, last: date) -> list[UsageRow]:
    report = usage.card_usage(as_tx(session), card_id, first, last)
    products = {
        str(paid["product_id"])
        for day in report["days"]
        for paid in day["paid_by"]
        if paid.get("product_id") is not None
    }
    names = _product_names(session, view, products)
    return [
        UsageRow(
            date=day["date"],
            kind=day["kind"],
            label=view._(KIND_LABELS.get(day["kind"], day["kind"])),
            used=view.amount(KIND_ASSET[day["kind"]].value, int(day["units"])),
            paid_by=[_paid_by(view, day["kind"], paid, names) for paid in day["paid_by"]],
        )
        for day in report["days"]
    ]


def usage_page(session: Session, view: View, card: Card, params: dict[str, str]) -> HTMLResponse:
    query = parse_query(view, params)
    rows: list[UsageRow] = []
    if not query.errors and query.first is not None and query.last is not None:
        try:
            rows = rows_for(session, view, card.id, query.first, query.last)
        except ValidationFailed as exc:
            query.errors[exc.field] = view._(exc.field_message, **exc.field_params)
    return render(view, "usage.html", status_code=422 if query.errors else 200, query=query, rows=rows)
