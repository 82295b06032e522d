"""Cookies and CSRF tokens for the portal.

The session cookie holds the same opaque token the API hands out (only its hash is stored), so sign-in,
lock-out and expiry are the API's rules. A CSRF token (roamcard/csrf.py) is bound to a random per-browser
cookie, `rc_csrf`, renewed at every sign-in and sign-out (so it is per session), and the time it was issued:
a form from another site, another session or too long ago is refused. Both cookies are HttpOnly.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request, Response

from roamcard import csrf
from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.i18n import negotiate, normalise_language

SESSION_COOKIE = "rc_session"
BROWSER_COOKIE = "rc_csrf"
LANGUAGE_COOKIE = "rc_lang"
TIMEZONE_COOKIE = "rc_tz"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 4 * 3600
YEAR_SECONDS = 365 * 24 * 3600


class FormExpired(AppError):
    status_code = 403
    code = "form_expired"
    message = "This form has expired or was already used. Check the details and send it again."


def secure_cookies() -> bool:
    return get_settings().public_base_url.startswith("https://")


def set_cookie(response: Response, name: str, value: str, *, max_age: int, http_only: bool = True) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=http_only,
        samesite="lax",
        secure=secure_cookies(),
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure_cookies())


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)


def _bindings(request: Request) -> list[str]:
    """What a token is bound to: this browser's random cookie (or the one minted for this response)."""
    browser = request.cookies.get(BROWSER_COOKIE) or getattr(request.state, "new_browser_id", None)
    return ["browser:" + browser] if browser else []


def start_session(response: Response, token: str) -> None:
    """Set the session cookie and a fresh browser cookie, so forms from before sign-in stop working."""
    set_cookie(response, SESSION_COOKIE, token, max_age=get_settings().session_ttl_seconds)
    set_cookie(response, BROWSER_COOKIE, new_browser_id(), max_age=YEAR_SECONDS)


def end_session(response: Response) -> None:
    clear_cookie(response, SESSION_COOKIE)
    set_cookie(response, BROWSER_COOKIE, new_browser_id(), max_age=YEAR_SECONDS)


def issue_csrf_token(request: Request, now: float | None = None) -> str:
    bindings = _bindings(request)
    return csrf.issue("csrf", bindings[0], now) if bindings else ""


def verify_csrf_token(request: Request, token: str | None, now: float | None = None) -> None:
    """Raise FormExpired unless `token` was issued to this browser within CSRF_MAX_AGE_SECONDS."""
    if not csrf.valid("csrf", token, _bindings(request), max_age_seconds=CSRF_MAX_AGE_SECONDS, now=now):
        raise FormExpired()


def language_for(request: Request) -> str:
    """The language the user picked (cookie), else the browser's Accept-Language."""
    return normalise_language(request.cookies.get(LANGUAGE_COOKIE)) or negotiate(
        request.headers.get("Accept-Language")
    )


def valid_timezone(name: str | None) -> str | None:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def timezone_for(request: Request) -> str:
    """The user's choice or their browser's zone (set by portal.js), else the operator's default."""
    return valid_timezone(request.cookies.get(TIMEZONE_COOKIE)) or get_settings().default_timezone


def safe_next(target: str | None, default: str = "/account") -> str:
    """Only same-site paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


# Hosted checkout pages the confirmation form's redirect may lead to (Chrome checks form-action on redirects).
GATEWAY_ORIGINS = ("https://checkout.stripe.com", "https://wx.tenpay.com")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    """No inline script or style anywhere in the portal; forms may only post here, and their redirects may
    only lead to our own sandbox or a real gateway's hosted checkout."""
    settings = get_settings()
    targets = [
        settings.public_base_url,
        _origin(str(getattr(settings, "alipay_gateway_url", "") or "")),
        *GATEWAY_ORIGINS,
    ]
    form_action = " ".join(dict.fromkeys(t for t in targets if t))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action 'self' {form_action}"
    )
