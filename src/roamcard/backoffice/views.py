"""Rendering for the back office: one Jinja environment over templates/backoffice, with the formatting
every page shares (money, amounts, times in the operator's time zone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from roamcard.backoffice.security import harden
from roamcard.card.numbers import display_phone, mask_phone
from roamcard.config import get_settings
from roamcard.i18n import current_language, gettext
from roamcard.kit.money import BABEL_LOCALES, Money
from roamcard.ledger.formatting import describe_amount
from roamcard.models import StaffMember
from roamcard.staff.roles import Permission, can
from roamcard.topup.labels import status_label

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STYLESHEET = TEMPLATES / "backoffice" / "admin.css"


@dataclass
class Page:
    """Who is looking and how things are shown; built once per request."""

    csrf_token: str
    staff: StaffMember | None = None
    language: str = field(default_factory=current_language)

    def _(self, message: str, **params: Any) -> str:
        return gettext(message, self.language, **params)

    def can(self, permission: str) -> bool:
        return self.staff is not None and can(self.staff.role, Permission(permission))

    def money(self, amount: int, currency: str) -> str:
        return Money(amount, currency).format(self.language)

    def amount(self, asset: str, amount: int) -> str:
        return describe_amount(asset, amount, self.language)

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        zone = ZoneInfo(get_settings().default_timezone)
        return str(
            format_datetime(moment, "yyyy-MM-dd HH:mm:ss", tzinfo=zone, locale=BABEL_LOCALES[self.language])
        )

    def status(self, status: str) -> str:
        return status_label(status, self.language)

    def phone(self, e164: str) -> str:
        return display_phone(e164)

    def masked_phone(self, e164: str) -> str:
        return mask_phone(e164)


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(page: Page, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(f"backoffice/{template}").render(page=page, _=page._, **context)
    return harden(HTMLResponse(html, status_code=status_code))
