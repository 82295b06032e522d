"""The portal's route class and request dependencies.

Every portal route gets: the user's language (cookie, else Accept-Language) and time zone, a CSRF token for
its forms, strict security headers, and HTML error pages instead of problem+json.

Errors must still pass through the request's unit of work, so that a failed form changes nothing (rollback)
while a recorded outcome such as a failed-login counter is kept (`keeps_changes`, commit). So the route
renders the error page, wraps it in a `PortalPageError` carrying the original `keeps_changes`, and raises it
through the session dependency; a handler this route installs for its own requests then sends the page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode, urlsplit

import structlog
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from roamcard import i18n
from roamcard.auth import service as auth_service
from roamcard.config import get_settings
from roamcard.db import get_database
from roamcard.deps import ReadSessionDep, SessionDep
from roamcard.errors import AppError, NotFound, Unauthorized
from roamcard.models import Card
from roamcard.portal import security
from roamcard.portal.forms import field_errors
from roamcard.portal.views import View

log = structlog.get_logger("roamcard.portal")

ERROR_PAGE = "portal_error_page"
# Never sent back into a re-rendered form.
SECRET_FIELDS = (
    "password",
    "current_password",
    "new_password",
    "confirm_password",
    "code",
    "pin",
    "csrf_token",
)


class ErrorPage(Protocol):
    def __call__(
        self,
        session: Session,
        view: View,
        card: Card | None,
        *,
        values: dict[str, str],
        errors: dict[str, str],
    ) -> Response: ...


def error_page(page: ErrorPage) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the page a form handler's errors are shown on (re-rendered with the values and messages)."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        setattr(endpoint, ERROR_PAGE, page)
        return endpoint

    return mark


class NotSignedIn(Unauthorized):
    code = "not_signed_in"
    message = "Sign in first."


class PortalPageError(AppError):
    """A rendered error page on its way out through the unit of work."""

    def __init__(self, response: Response, *, keeps_changes: bool) -> None:
        super().__init__()
        self.response = response
        self.keeps_changes = keeps_changes


async def _send_page(_request: Request, error: Exception) -> Response:
    assert isinstance(error, PortalPageError)
    return error.response


class PortalRoute(APIRoute):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the handler that sends a `PortalPageError`'s page, for this request only."""
        handlers, status_handlers = scope.get("starlette.exception_handlers", ({}, {}))
        scope["starlette.exception_handlers"] = ({**handlers, PortalPageError: _send_page}, status_handlers)
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        page: ErrorPage | None = getattr(self.endpoint, ERROR_PAGE, None)

        async def route(request: Request) -> Response:
            view = begin(request)
            try:
                response = await handler(request)
            except PortalPageError:
                raise
            except (AppError, RequestValidationError) as error:
                problem = error if isinstance(error, AppError) else _bad_request()
                response = await run_in_threadpool(error_response, request, view, problem, page)
                raise PortalPageError(
                    finish(request, view, response), keeps_changes=problem.keeps_changes
                ) from error
            return finish(request, view, response)

        return route


def _bad_request() -> AppError:
    error = AppError()
    error.status_code = 400
    return error


def begin(request: Request) -> View:
    language = security.language_for(request)
    i18n.set_language(language)
    if not request.cookies.get(security.BROWSER_COOKIE):
        request.state.new_browser_id = security.new_browser_id()
    view = View(
        language=language,
        timezone=security.timezone_for(request),
        csrf_token=security.issue_csrf_token(request),
        path=request.url.path,
        return_to=_return_to(request),
        demo_mode=get_settings().demo_enabled,
    )
    request.state.view = view
    return view


def _same_site_referer(request: Request) -> str | None:
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc != urlsplit(get_settings().public_base_url).netloc:
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def _return_to(request: Request) -> str:
    """A page to come back to after switching language: this one, or for a form post the page it came from."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return security.safe_next(_same_site_referer(request), "/")


def finish(request: Request, view: View, response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = security.content_security_policy()
    headers["X-Frame-Options"] = "DENY"
    headers["Content-Language"] = view.language
    headers.setdefault("Cache-Control", "no-store")
    headers["Vary"] = "Cookie, Accept-Language"
    browser_id = getattr(request.state, "new_browser_id", None)
    if browser_id:
        security.set_cookie(response, security.BROWSER_COOKIE, browser_id, max_age=security.YEAR_SECONDS)
    if getattr(request.state, "session_ended", False):
        security.clear_cookie(response, security.SESSION_COOKIE)
    return response


def error_response(request: Request, view: View, error: AppError, page: ErrorPage | None) -> Response:
    from roamcard.portal import pages

    if isinstance(error, Unauthorized | NotFound) and _returns_to_card_order(request):
        return RedirectResponse("/buy/order", status_code=303)
    if isinstance(error, Unauthorized):
        return _signed_out(request, view, error)
    values = {k: v for k, v in getattr(request.state, "form_values", {}).items() if k not in SECRET_FIELDS}
    errors = field_errors(error)
    if not errors:
        errors = {"form": error.detail(view.language)}
    with get_database().reading() as session:
        card_id = getattr(request.state, "card_id", None)
        card = session.get(Card, card_id) if card_id is not None else None
        if page is not None and request.method == "POST":
            response = page(session, view, card, values=values, errors=errors)
        else:
            view.signed_in = card is not None
            response = pages.error(view, error.detail(view.language), status_code=error.status_code)
    response.status_code = error.status_code
    if error.headers.get("Retry-After"):
        response.headers["Retry-After"] = error.headers["Retry-After"]
    return response


def _signed_out(request: Request, view: View, error: AppError) -> Response:
    """No session, or it ended: a page goes to sign-in and comes back; a form says so and changes nothing."""
    from roamcard.portal import pages

    had_cookie = bool(request.cookies.get(security.SESSION_COOKIE))
    request.state.session_ended = had_cookie
    view.signed_in = False
    if request.method == "GET":
        query = {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
        if had_cookie:
            query["ended"] = "1"
        return RedirectResponse("/?" + urlencode(query), status_code=303)
    back = _same_site_referer(request)
    message = error.detail(view.language) if had_cookie else view._("Sign in first.")
    with get_database().reading() as session:
        response = pages.landing(
            session, view, None, values={"next": security.safe_next(back)}, errors={"form": message}
        )
    response.status_code = error.status_code
    return response


def _returns_to_card_order(request: Request) -> bool:
    """Every gateway returns to /topups/<id>. A new card's buyer is not signed in yet, or signed in with
    another card (which does not own that order): with the card order's cookie, it goes to the order."""
    return (
        request.method == "GET"
        and request.url.path.startswith("/topups/")
        and (request.cookies.get("rc_order") or "").startswith("cor_")
    )


# -- dependencies -----------------------------------------------------------------------------------
def _view(request: Request) -> View:
    view: View = request.state.view
    return view


ViewDep = Annotated[View, Depends(_view)]


async def _form(request: Request) -> dict[str, str]:
    """The posted fields, after the CSRF check (a form from elsewhere, or too old, changes nothing)."""
    data = await request.form()
    values = {key: value for key, value in data.items() if isinstance(value, str)}
    request.state.form_values = values
    security.verify_csrf_token(request, values.get(security.CSRF_FIELD))
    return values


FormDep = Annotated[dict[str, str], Depends(_form)]


@dataclass(frozen=True)
class SignedIn:
    card: Card
    token: str


def _signed_in(request: Request, session: Session) -> SignedIn:
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        raise NotSignedIn()
    card = auth_service.card_for_token(session, token)
    request.state.card_id = card.id
    request.state.view.signed_in = True
    return SignedIn(card=card, token=token)


def _reading(request: Request, session: ReadSessionDep) -> SignedIn:
    return _signed_in(request, session)


def _writing(request: Request, session: SessionDep) -> SignedIn:
    return _signed_in(request, session)


# The card of the signed-in visitor, loaded in the request's read session or in its write session,
# whatever its status (for pages that only show the card, and for emergency help).
SignedInDep = Annotated[SignedIn, Depends(_reading)]
SignedInForUpdate = Annotated[SignedIn, Depends(_writing)]


def _active(signed: SignedInDep) -> SignedIn:
    auth_service.require_active(signed.card)
    return signed


def _active_for_update(signed: SignedInForUpdate) -> SignedIn:
    auth_service.require_active(signed.card)
    return signed


# The same, refused with 403 `card_suspended` unless the card is active: recharges and settings. Emergency
# help must use SignedInDep.
ActiveSignedIn = Annotated[SignedIn, Depends(_active)]
ActiveSignedInForUpdate = Annotated[SignedIn, Depends(_active_for_update)]


def _maybe(request: Request, session: ReadSessionDep) -> Card | None:
    view: View = request.state.view
    try:
        card = _signed_in(request, session).card
    except Unauthorized:
        card = None
        request.state.session_ended = bool(request.cookies.get(security.SESSION_COOKIE))
    view.signed_in = card is not None
    return card


# The signed-in card on pages anyone may see (the landing page), else None.
MaybeSignedIn = Annotated[Card | None, Depends(_maybe)]


def demo_only() -> None:
    if not get_settings().demo_enabled:
        raise NotFound()
