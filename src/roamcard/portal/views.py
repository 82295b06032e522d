"""Rendering: one Jinja environment for the portal, with the formatting every page shares (money per locale,
times in the user's time zone, amounts of data and minutes, country names)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from roamcard.config import get_settings
from roamcard.i18n import gettext
from roamcard.kit.money import Money
from roamcard.ledger.formatting import describe_amount

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en_US"}


@dataclass
class View:
    """Who is looking and how they want things shown; built once per request by the portal route."""

    language: str
    timezone: str
    csrf_token: str
    path: str
    return_to: str = "/"  # where the language switch comes back to
    signed_in: bool = False
    demo_mode: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def _(self, message: str, **params: Any) -> str:
        return gettext(message, self.language, **params)

    def money(self, amount: int, currency: str) -> str:
        return Money(amount, currency).format(self.language)

    def when(self, moment: datetime | None, pattern: str = "yyyy-MM-dd HH:mm") -> str:
        if moment is None:
            return "—"
        return str(
            format_datetime(
                moment, pattern, tzinfo=ZoneInfo(self.timezone), locale=BABEL_LOCALES[self.language]
            )
        )

    def day(self, moment: datetime | None) -> str:
        return self.when(moment, "yyyy-MM-dd")

    def amount(self, asset: str, amount: int) -> str:
        return describe_amount(asset, amount, self.language)

    def countries(self, codes: list[str]) -> str:
        names = Locale.parse(BABEL_LOCALES[self.language]).territories
        separator = "、" if self.language == "zh-CN" else ", "
        return separator.join(names.get(code, code) for code in codes)


@cache
def static_version(name: str) -> str:
    """Content hash for cache busting: `/static/portal.css?v=…`."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = lambda name: f"/static/{name}?v={static_version(name)}"
    return env


def render(view: View, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = (
        environment()
        .get_template(f"portal/{template}")
        .render(view=view, _=view._, settings=get_settings(), **context)
    )
    return HTMLResponse(html, status_code=status_code)
