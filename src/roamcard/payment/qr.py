"""QR codes for desktop payers: the gateway's `qr_code` / `code_url` drawn as an inline SVG (segno)."""

from __future__ import annotations

from functools import cache

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from roamcard.errors import NotFound
from roamcard.i18n import current_language, gettext
from roamcard.kit.money import Money
from roamcard.models import Payment
from roamcard.payment.states import PaymentStatus
from roamcard.topup.receipt import TEMPLATES


def svg(text: str, *, scale: int = 6) -> str:
    """An inline <svg> of `text` (error correction M, with its quiet zone)."""
    return str(segno.make(text, error="m", micro=False).svg_inline(scale=scale, omitsize=False))


def svg_data_uri(text: str, *, scale: int = 6) -> str:
    """For an <img src=…>, where inline SVG does not fit."""
    return str(segno.make(text, error="m", micro=False).svg_data_uri(scale=scale))


@cache
def _jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals["_"] = lambda text, **kw: gettext(text, current_language(), **kw)
    return env


class CheckoutNotFound(NotFound):
    code = "checkout_not_found"
    message = "There is no such payment to scan."


def render_page(session: Session, payment_id: str) -> str:
    payment = session.get(Payment, payment_id)
    if payment is None or not payment.qr_code:
        raise CheckoutNotFound()
    open_ = payment.status == PaymentStatus.PENDING.value
    return (
        _jinja()
        .get_template("payment/qr.html")
        .render(
            payment=payment,
            provider=payment.provider,
            amount=Money(payment.amount, payment.currency).format(current_language()),
            qr=Markup(svg(payment.qr_code)) if open_ else None,  # noqa: S704 (segno's own SVG)
            language=current_language(),
        )
    )
