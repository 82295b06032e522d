"""Back-office cookies, CSRF tokens and response headers.

The portal's CSRF helpers (portal/security.py) bind tokens to the card holder's `rc_session` cookie; the
back office binds them to the staff session instead, with the same construction (roamcard/csrf.py, in its
own scope): an HMAC under the "csrf" purpose key over what identifies this browser — the staff session
cookie once signed in, a random pre-sign-in cookie before — and the time of issue. Cookies are HttpOnly,
SameSite=Strict, limited to /admin, and Secure whenever the public URL is https.
"""

from __future__ import annotations

import secrets
from typing import TypeVar

from fastapi import Request, Response

from roamcard import csrf
from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.kit.tokens import hash_token

SESSION_COOKIE = "rc_staff"
BROWSER_COOKIE = "rc_staff_pre"
COOKIE_PATH = "/admin"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 2 * 3600

R = TypeVar("R", bound=Response)


class StaffFormExpired(AppError):
    status_code = 403
    code = "staff_form_expired"
    message = "This form has expired. Reload the page and try again."


def _secure() -> bool:
    return get_settings().public_base_url.startswith("https://")


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure()
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure())


def browser_id(request: Request) -> str:
    """The pre-sign-in cookie's value, minted for this response when the browser has none yet."""
    existing = request.cookies.get(BROWSER_COOKIE) or getattr(request.state, "staff_browser_id", None)
    if existing:
        return str(existing)
    minted = secrets.token_urlsafe(24)
    request.state.staff_browser_id = minted
    return minted


def keep_browser_id(request: Request, response: Response) -> None:
    minted = getattr(request.state, "staff_browser_id", None)
    if minted and not request.cookies.get(BROWSER_COOKIE):
        set_cookie(response, BROWSER_COOKIE, minted)


def _binding(request: Request, session_token: str | None) -> str:
    token = session_token if session_token is not None else request.cookies.get(SESSION_COOKIE)
    if token:
        return "staff:" + hash_token(token)
    return "browser:" + browser_id(request)


def issue_csrf_token(request: Request, session_token: str | None = None) -> str:
    return csrf.issue("staff-csrf", _binding(request, session_token))


def verify_csrf_token(request: Request, token: str | None) -> None:
    if not csrf.valid("staff-csrf", token, [_binding(request, None)], max_age_seconds=CSRF_MAX_AGE_SECONDS):
        raise StaffFormExpired()


def content_security_policy() -> str:
    """No script at all, styles from our own stylesheet, images only ours or inline (the TOTP QR code),
    forms post only here, never framed."""
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def harden(response: R) -> R:
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
