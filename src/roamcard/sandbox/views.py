from __future__ import annotations

from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from roamcard.i18n import current_language, gettext
from roamcard.kit.money import Money
from roamcard.models import SandboxCharge
from roamcard.topup.receipt import TEMPLATES


@cache
def _jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals["_"] = lambda text, **kw: gettext(text, current_language(), **kw)
    return env


def render_checkout(charge: SandboxCharge, amount: Money) -> str:
    return (
        _jinja()
        .get_template("sandbox/checkout.html")
        .render(charge=charge, amount=amount.format(current_language()), language=current_language())
    )
