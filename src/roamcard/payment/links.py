"""Payment links by SMS (hotline menu 3, the agent console): a link to our own page, `/pay/link/<token>`,
that opens the gateway's checkout when the traveller arrives.

The phone channel creates the payment inside the caller's transaction, where a remote gateway's checkout
cannot be opened yet (the gateway is never called inside a write transaction), so the SMS cannot carry
the gateway's URL. It carries a signed, single-use token (`signed_link`, purpose "payment-link") that
expires with the order's payment window. Opening the page only shows the recharge (link previews in
messaging apps fetch it too); the traveller's "continue" spends the token, opens the checkout with no
transaction open, and sends the browser to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import Conflict
from roamcard.i18n import current_language, gettext
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.models import Payment, TopupOrder
from roamcard.payment import service
from roamcard.payment.providers.base import CheckoutFlow
from roamcard.payment.repository import NewPayment
from roamcard.payment.states import PaymentStatus
from roamcard.signed_link import service as signed_links
from roamcard.topup.receipt import TEMPLATES

LINK_PURPOSE = "payment-link"


class PaymentLinkClosed(Conflict):
    code = "payment_link_closed"
    message = "This recharge can no longer be paid. Ask for a new payment link."


class PaymentLinkNotReady(Conflict):
    code = "payment_link_not_ready"
    message = "We are still confirming this payment with the payment provider. Try again in a minute."


def issue(session: Session, payment: Payment | NewPayment, expires_at: datetime) -> str:
    """The URL to text: our page, with a token bound to this payment."""
    token = signed_links.issue(session, LINK_PURPOSE, payment.id, expires_at)
    return f"{get_settings().public_base_url}/pay/link/{token}"


@dataclass(frozen=True)
class LinkView:
    token: str
    order: TopupOrder
    payment: Payment


def view(session: Session, token: str) -> LinkView:
    link = signed_links.check(session, LINK_PURPOSE, token)
    payment = session.get(Payment, link.subject)
    order = session.get(TopupOrder, payment.order_id) if payment is not None else None
    if payment is None or order is None:
        raise signed_links.LinkInvalid()
    return LinkView(token=token, order=order, payment=payment)


def open_link(database: Database, token: str, *, client_ip: str | None) -> str:
    """Open the checkout, then spend the token; returns where to send the traveller. The token is spent
    only once a checkout exists, so a gateway that does not answer in time leaves the link usable for a
    retry (the payment is then `unknown` and settled by asking, as for any create)."""
    with database.transaction() as session:
        link = signed_links.check(session, LINK_PURPOSE, token)
        payment = session.get(Payment, link.subject)
        if payment is not None and payment.status == PaymentStatus.UNKNOWN.value:
            raise PaymentLinkNotReady()  # an earlier open timed out: asked again by the settle job
        if payment is None or payment.status != PaymentStatus.PENDING.value:
            raise PaymentLinkClosed()
        if service.awaits_checkout(payment):
            # The traveller's phone: the gateway's mobile page, with the payer's IP (WeChat Pay H5 asks).
            session.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.checkout_url.is_(None))
                .values(
                    checkout_flow=CheckoutFlow.REDIRECT.value, client_ip=client_ip, updated_at=clock.now()
                )
                .execution_options(synchronize_session=False)
            )
            session.refresh(payment)
    if service.awaits_checkout(payment):
        attempt = service.call_create_checkout(payment)
        with database.transaction() as session:
            service.record_checkout(session, payment.id, attempt)
    with database.reading() as session:
        opened = session.get(Payment, payment.id)
        assert opened is not None
        if opened.status == PaymentStatus.UNKNOWN.value:
            raise PaymentLinkNotReady()
        if not (opened.checkout_url and opened.status == PaymentStatus.PENDING.value):
            raise PaymentLinkClosed()
    with database.transaction() as session:
        signed_links.use(session, LINK_PURPOSE, token)
    return opened.checkout_url


@cache
def _jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals["_"] = lambda text, **kw: gettext(text, current_language(), **kw)
    return env


def render_page(found: LinkView) -> str:
    language = current_language()
    name = found.order.product_name_zh if language == "zh-CN" else found.order.product_name_en
    return (
        _jinja()
        .get_template("payment/link.html")
        .render(
            token=found.token,
            product=name,
            amount=Money(found.payment.amount, found.payment.currency).format(language),
            language=language,
        )
    )


def render_error(message: str) -> str:
    return _jinja().get_template("payment/link.html").render(error=message, language=current_language())
