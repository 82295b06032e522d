"""Receipts for a recharge: an HTML page and a PDF whose Chinese text renders in any viewer
(reportlab's built-in Adobe CID font STSong-Light, so no font file ships)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.i18n import current_language, gettext
from roamcard.kit.money import Money
from roamcard.ledger.formatting import describe_amount
from roamcard.models import Card, Payment, TopupOrder
from roamcard.promotion import labels as promotion_labels
from roamcard.topup.labels import status_label

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Receipt:
    language: str
    title: str
    rows: list[tuple[str, str]]
    footer: str
    order_id: str


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def build(
    session: Session, card: Card, order: TopupOrder, payment: Payment | None, *, time_zone: str | None = None
) -> Receipt:
    """`time_zone` is the reader's (IANA name); the operator's default zone otherwise."""
    language = current_language()
    zone = ZoneInfo(time_zone or get_settings().default_timezone)

    def t(text: str) -> str:
        return gettext(text, language)

    credited = "; ".join(describe_amount(g["asset"], int(g["amount"]), language) for g in order.grants)
    # What promotions gave (the order's own record): each bonus under what is credited, and the list
    # price and each discount above what was paid, so the receipt adds up.
    promoted = promotion_labels.lines(order.promotions, language)
    bonuses = [(line.name, line.effect) for line in promoted if line.kind == "bonus"]
    discounts = [(line.name, line.effect) for line in promoted if line.kind == "discount"]
    if discounts and order.list_price_amount is not None:
        list_price = Money(order.list_price_amount, order.price_currency).format(language)
        discounts.insert(0, (t("List price"), list_price))
    rows = [
        (t("Order"), order.id),
        (t("Card number"), "•••• " + card.card_number[-4:]),
        (t("Product"), order.product_name_zh if language == "zh-CN" else order.product_name_en),
        (t("Credited"), credited),
        *bonuses,
        *discounts,
        (t("Amount paid"), Money(order.price_amount, order.price_currency).format(language)),
        (t("Payment method"), order.payment_method),
        (t("Payment reference"), payment.id if payment else "—"),
        (t("Status"), status_label(order.status, language)),
        (t("Created at"), _local(order.created_at, zone)),
        (t("Paid at"), _local(order.paid_at, zone)),
        (t("Completed at"), _local(order.fulfilled_at, zone)),
    ]
    return Receipt(
        language=language,
        title=t("Roamcard recharge receipt"),
        rows=rows,
        footer=t("Keep this receipt for queries and refunds. Customer service: see roamcard website."),
        order_id=order.id,
    )


@cache
def _jinja() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def render_html(receipt: Receipt) -> str:
    return _jinja().get_template("receipt/receipt.html").render(receipt=receipt)


def render_pdf(receipt: Receipt) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=receipt.title, author="Roamcard", leftMargin=18 * mm, rightMargin=18 * mm
    )
    heading = ParagraphStyle("heading", fontName=font, fontSize=18, leading=24, spaceAfter=8)
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=15)
    table = Table(  # a Paragraph reads markup: campaign and product names are text, escaped
        [[Paragraph(escape(label), body), Paragraph(escape(value), body)] for label, value in receipt.rows],
        colWidths=[45 * mm, 125 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#555555")),
            ]
        )
    )
    document.build(
        [
            Paragraph(receipt.title, heading),
            Spacer(1, 4 * mm),
            table,
            Spacer(1, 8 * mm),
            Paragraph(receipt.footer, body),
        ]
    )
    return buffer.getvalue()
