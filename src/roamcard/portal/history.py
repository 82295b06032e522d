"""The history page's filters (dates in the user's time zone) and its CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from roamcard.i18n import gettext
from roamcard.models import Card
from roamcard.portal.views import View
from roamcard.promotion import labels as promotion_labels
from roamcard.topup import history
from roamcard.topup.labels import status_label
from roamcard.topup.states import TopupStatus

STATUS_CHOICES = tuple(s.value for s in TopupStatus)
# Cells a spreadsheet would run as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class HistoryQuery:
    """The filter form as typed (kept for redisplay) and what it means."""

    date_from: str = ""
    date_to: str = ""
    status: str = ""
    cursor: str | None = None
    filters: history.HistoryFilter = field(default_factory=history.HistoryFilter)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_params(self) -> dict[str, str]:
        return {
            k: v for k, v in (("from", self.date_from), ("to", self.date_to), ("status", self.status)) if v
        }


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_query(params: dict[str, str], timezone: str) -> HistoryQuery:
    query = HistoryQuery(
        date_from=params.get("from", "").strip()[:10],
        date_to=params.get("to", "").strip()[:10],
        status=params.get("status", "").strip()[:20],
        cursor=params.get("cursor") or None,
    )
    zone = ZoneInfo(timezone)
    since = until = None
    if query.date_from:
        start = _day(query.date_from)
        if start is None:
            query.errors["from"] = gettext("Enter a date like 2026-01-31.")
        else:
            since = datetime.combine(start, time(), zone)
    if query.date_to:
        end = _day(query.date_to)
        if end is None:
            query.errors["to"] = gettext("Enter a date like 2026-01-31.")
        else:
            until = datetime.combine(end + timedelta(days=1), time(), zone)
    if since and until and since >= until:
        query.errors["to"] = gettext("The end date is before the start date.")
    statuses: tuple[TopupStatus, ...] = ()
    if query.status:
        if query.status not in STATUS_CHOICES:
            query.errors["status"] = gettext("Choose a status from the list.")
        else:
            statuses = (TopupStatus(query.status),)
    query.filters = history.HistoryFilter(since=since, until=until, statuses=statuses)
    return query


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def export_csv(session: Session, view: View, card: Card, query: HistoryQuery) -> str:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese correctly."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(
        [
            view._("Order"),
            view._("Created"),
            view._("Product"),
            view._("Credited"),
            view._("Amount paid"),
            view._("Currency"),
            view._("Payment method"),
            view._("Status"),
            view._("Completed"),
            view._("Promotions"),  # last, so the columns before it stay where they were
        ]
    )
    for order in history.export(session, card, query.filters):
        writer.writerow(
            [
                order.id,
                view.when(order.created_at),
                _cell(order.product_name_zh if view.language == "zh-CN" else order.product_name_en),
                "; ".join(view.amount(g["asset"], int(g["amount"])) for g in order.grants),
                view.money(order.price_amount, order.price_currency),
                order.price_currency,
                order.payment_method,
                status_label(order.status, view.language),
                view.when(order.fulfilled_at) if order.fulfilled_at else "",
                _cell(promotion_labels.summary(order.promotions, view.language)),
            ]
        )
    return buffer.getvalue()
