"""create_app(): middleware, error handlers, routers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roamcard import i18n, openapi, startup, wiring
from roamcard.auth.endpoints import router as auth_router
from roamcard.backoffice.campaigns import router as campaigns_router
from roamcard.backoffice.card_issue import router as backoffice_esim_router
from roamcard.backoffice.dealers import router as dealers_router
from roamcard.backoffice.emergency import router as backoffice_emergency_router
from roamcard.backoffice.endpoints import router as backoffice_router
from roamcard.backoffice.jobs import router as backoffice_jobs_router
from roamcard.backoffice.partner_endpoints import router as partner_backoffice_router
from roamcard.backoffice.refund_history import router as refund_history_router
from roamcard.backoffice.staff_accounts import router as staff_accounts_router
from roamcard.card.endpoints import router as card_router
from roamcard.card_order.endpoints import router as card_order_router
from roamcard.catalog.endpoints import router as catalog_router
from roamcard.charging.endpoints import router as charging_router
from roamcard.charging.endpoints import usage_router as card_usage_router
from roamcard.config import Settings, get_settings
from roamcard.db import HTTP_THREADS, Database, get_database, set_database
from roamcard.dealer.endpoints import router as pos_router
from roamcard.emergency.endpoints import router as emergency_router
from roamcard.errors import AppError
from roamcard.esim.endpoints import router as esim_router
from roamcard.esim.endpoints import webhook_router as smdp_webhook_router
from roamcard.ivr.endpoints import router as ivr_router
from roamcard.jobs.sweepers import build_worker
from roamcard.logging import configure_logging
from roamcard.metrics import HTTP_REQUESTS
from roamcard.notification.checks import check_sms_settings
from roamcard.notification.endpoints import router as demo_router
from roamcard.notification.endpoints import webhook_router as sms_webhook_router
from roamcard.partner.endpoints import router as partner_router
from roamcard.payment.endpoints import pay_router
from roamcard.payment.endpoints import router as webhook_router
from roamcard.portal.card_order import router as portal_card_order_router
from roamcard.portal.emergency import router as portal_emergency_router
from roamcard.portal.endpoints import router as portal_router
from roamcard.portal.endpoints import static_router as portal_static_router
from roamcard.refund import attention as refund_attention
from roamcard.refund.endpoints import router as refund_router
from roamcard.responses import OrjsonResponse
from roamcard.sandbox.endpoints import router as sandbox_router
from roamcard.topup.endpoints import router as topup_router
from roamcard.validation import validation_problem
from roamcard.voucher.endpoints import router as voucher_router

log = structlog.get_logger("roamcard.app")

PROBLEM_JSON = "application/problem+json"


class RequestContext:
    """Request id and language for the request; its duration metric and our headers on the response.

    Plain ASGI rather than `@app.middleware("http")`, whose BaseHTTPMiddleware runs the rest of the app
    in a task of its own and pipes the response through a memory stream on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        language = i18n.negotiate(headers.get("accept-language"))
        i18n.set_language(language)
        started = time.perf_counter()

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                HTTP_REQUESTS.labels(
                    scope["method"], getattr(route, "path", "unmatched"), str(message["status"])
                ).observe(time.perf_counter() - started)
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                response_headers.setdefault("X-Content-Type-Options", "nosniff")
                response_headers.setdefault("Referrer-Policy", "same-origin")
                response_headers.setdefault("Content-Language", language)
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            structlog.contextvars.clear_contextvars()


def create_app(
    settings: Settings | None = None, database: Database | None = None, *, run_worker: bool = False
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    startup.check(settings)  # fail closed: no production start on development secrets
    check_sms_settings(settings)
    wiring.wire()  # payment's outcomes go to top-up and refund (roamcard/wiring.py)
    if database is not None:
        set_database(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # As many request threads as the pool has connections for them (db.py: HTTP_THREADS).
        anyio.to_thread.current_default_thread_limiter().total_tokens = HTTP_THREADS
        worker = None
        if run_worker:
            worker = build_worker(get_database())
            worker.start_in_thread()
        yield
        if worker is not None:
            worker.stop()

    # Swagger UI and ReDoc from assets shipped in the wheel: no page of ours loads from a CDN.
    app = FastAPIOffline(
        title="Roamcard API",
        version="1",
        description="Recharge travel eSIM cards: cards, catalogue, top-ups, payments.",
        lifespan=lifespan,
    )

    app.add_middleware(RequestContext)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> OrjsonResponse:
        return OrjsonResponse(
            exc.problem(instance=request.url.path),
            status_code=exc.status_code,
            headers=exc.headers,
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        return OrjsonResponse(
            validation_problem(exc.errors(), request.url.path), status_code=422, media_type=PROBLEM_JSON
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        error = AppError()
        error.status_code = exc.status_code
        error.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        error.message = {404: "Not found.", 405: "This method is not allowed here."}.get(
            exc.status_code, "The request could not be processed."
        )
        return OrjsonResponse(
            error.problem(instance=request.url.path),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None) or {},
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> OrjsonResponse:
        log.exception("request.failed", path=request.url.path)
        error = AppError()
        error.status_code, error.code, error.message = (
            500,
            "internal_error",
            "Something went wrong on our side.",
        )
        return OrjsonResponse(
            error.problem(instance=request.url.path), status_code=500, media_type=PROBLEM_JSON
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Any:
        try:
            with get_database().reading() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # the probe's job is to say "not ready", not to raise
            log.warning("readyz.database_unavailable", error=str(exc))
            return OrjsonResponse({"status": "unavailable"}, status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        try:  # figures kept in the database, the same from every process
            with get_database().reading() as session:
                refund_attention.refresh_metrics(session)
        except Exception as exc:  # the other metrics are still worth scraping
            log.warning("metrics.database_unavailable", error=str(exc))
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    # A request is matched against the routes in this order, one by one (a few µs each), so the hot paths
    # come first: gateway notifications, top-ups, sign-in, the card. No two routers share a path, so the
    # order decides nothing else (tests/test_app.py: every route answers its own path).
    for router in (
        charging_router,
        webhook_router,
        topup_router,
        auth_router,
        card_router,
        card_usage_router,
        emergency_router,
        esim_router,
        card_order_router,
        voucher_router,
        pos_router,
        partner_router,
        catalog_router,
        refund_router,
        pay_router,
        demo_router,
        sms_webhook_router,
        smdp_webhook_router,
        portal_card_order_router,
        portal_emergency_router,
        portal_router,
        portal_static_router,
        ivr_router,
        backoffice_router,
        backoffice_esim_router,
        backoffice_emergency_router,
        partner_backoffice_router,
        campaigns_router,
        backoffice_jobs_router,
        refund_history_router,
        staff_accounts_router,
        dealers_router,
    ):
        app.include_router(router)
    if settings.sandbox_enabled:
        app.include_router(sandbox_router)
    openapi.install(app)  # errors documented as problem+json, as sent (roamcard/openapi.py)
    return app
