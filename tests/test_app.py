from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime

import pytest
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

import roamcard
from roamcard.config import Settings
from roamcard.db import Database
from roamcard.responses import OrjsonResponse


class TestServiceEndpoints:
    def test_health_and_readiness(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}

    def test_openapi_documents_the_api(self, client: TestClient) -> None:
        paths = client.get("/openapi.json").json()["paths"]
        for path in (
            "/api/v1/sessions",
            "/api/v1/card",
            "/api/v1/products",
            "/api/v1/topups",
            "/webhooks/sandbox",
        ):
            assert path in paths

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_api_docs_load_without_any_cdn(self, client: TestClient, page: str) -> None:
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"|url: *[\'"]([^\'"]+)', html)
        addresses = [a or b for a, b in assets]
        assert addresses
        assert not [a for a in addresses if "//" in a]
        for address in addresses:
            assert client.get(address).status_code == 200, address

    def test_unknown_route_is_problem_json_in_the_asked_language(self, client: TestClient) -> None:
        response = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert response.headers["Content-Language"] == "en"

    def test_every_response_has_a_request_id(self, client: TestClient) -> None:
        assert client.get("/healthz", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"] == "abc123"


def _requests_seen(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("roamcard_http_request_duration_seconds_count", labels) or 0.0


class TestRequestContext:
    """The middleware around every request (app.RequestContext)."""

    def test_common_headers_and_a_fresh_request_id(self, client: TestClient) -> None:
        first, second = client.get("/healthz"), client.get("/healthz")
        assert re.fullmatch("[0-9a-f]{32}", first.headers["X-Request-ID"])
        assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
        assert first.headers["X-Content-Type-Options"] == "nosniff"
        assert first.headers["Referrer-Policy"] == "same-origin"
        assert first.headers["Content-Language"] == "zh-CN"
        assert (
            client.get("/healthz", headers={"Accept-Language": "fr, en;q=0.5"}).headers["Content-Language"]
            == "en"
        )

    def test_a_header_the_route_set_is_kept_and_one_request_id_is_sent(self, app: FastAPI) -> None:
        @app.get("/probe")
        async def probe() -> JSONResponse:
            return JSONResponse(
                structlog.contextvars.get_contextvars(),
                headers={"Content-Language": "en", "X-Request-ID": "from-the-route"},
            )

        with TestClient(app) as client:
            response = client.get("/probe", headers={"X-Request-ID": "abc123"})
        assert response.json() == {"request_id": "abc123"}  # bound while the request runs
        assert response.headers.get_list("X-Request-ID") == ["abc123"]
        assert response.headers["Content-Language"] == "en"

    def test_the_duration_metric_is_labelled_by_route_template(self, client: TestClient) -> None:
        matched = _requests_seen("GET", "/api/v1/topups/{topup_id}", "401")
        unmatched = _requests_seen("GET", "unmatched", "404")
        assert client.get("/api/v1/topups/top_123").status_code == 401
        assert client.get("/no/such/page").status_code == 404
        assert _requests_seen("GET", "/api/v1/topups/{topup_id}", "401") == matched + 1
        assert _requests_seen("GET", "unmatched", "404") == unmatched + 1


def _routers() -> dict[str, APIRouter]:
    found = {}
    for module in pkgutil.walk_packages(roamcard.__path__, "roamcard."):
        if module.name.endswith(".endpoints"):
            for name, value in vars(importlib.import_module(module.name)).items():
                if isinstance(value, APIRouter):
                    found[f"{module.name}.{name}"] = value
    return found


def test_every_route_answers_its_own_path() -> None:
    """No route of one router matches a path of another's, so the order app.py includes them in (hot paths
    first) decides nothing but speed."""
    routes = [(name, route) for name, router in _routers().items() for route in router.routes]
    shadowed = [
        (route.path, other_name, other.path)
        for name, route in routes
        for other_name, other in routes
        if isinstance(route, APIRoute)
        and isinstance(other, APIRoute)
        and name != other_name
        and route.methods & other.methods
        and other.path_regex.match(re.sub(r"{[^}]+}", "x", route.path))
    ]
    assert len(routes) > 50
    assert shadowed == []


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "msg": "接收成功", "nested": [{"name": "余额 10 美元", "none": None, "ok": True}]},
        {"created_at": datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC).isoformat(), "amount": -1000},
        ['\n\t"\\ \u2028 </script>', 2**63 - 1, {"1": "one"}],
    ],
)
def test_orjson_writes_the_bytes_starlette_would(body: object) -> None:
    assert OrjsonResponse(body).body == JSONResponse(body).body


class TestSettings:
    def test_production_refuses_development_secrets(self) -> None:
        # Refused at start-up (tests/test_startup.py), not when read: Settings() must load to say why.
        problems = Settings(environment="production").startup_problems()
        assert "ROAMCARD_SECRET_KEY" in [problem.env_name for problem in problems]

    def test_production_accepts_real_secrets(self) -> None:
        settings = Settings(
            environment="production",
            secret_key="k" * 40,
            sandbox_webhook_secret="s" * 40,
            voucher_pepper="p" * 40,
        )
        assert settings.environment == "production"
        assert settings.startup_problems() == []

    def test_production_refuses_the_development_voucher_pepper(self) -> None:
        settings = Settings(environment="production", secret_key="k" * 40, sandbox_webhook_secret="s" * 40)
        assert [problem.env_name for problem in settings.startup_problems()] == ["ROAMCARD_VOUCHER_PEPPER"]

    def test_public_base_url_loses_its_trailing_slash(self) -> None:
        assert (
            Settings(public_base_url="https://pay.example.com/").public_base_url == "https://pay.example.com"
        )


class TestProductionDefaults:
    def test_demo_mode_and_sandbox_are_off_in_production_unless_asked_for(self) -> None:
        secrets = {"secret_key": "k" * 40, "sandbox_webhook_secret": "s" * 40, "voucher_pepper": "p" * 40}
        production = Settings(environment="production", **secrets)  # type: ignore[arg-type]
        assert (production.demo_mode, production.sandbox_enabled) == (False, False)
        chosen = Settings(environment="production", demo_mode=True, sandbox_enabled=True, **secrets)  # type: ignore[arg-type]
        assert (chosen.demo_mode, chosen.sandbox_enabled) == (True, True)
        assert (Settings().demo_mode, Settings().sandbox_enabled) == (True, True)

    def test_without_the_sandbox_there_is_no_checkout_page_and_no_sandbox_method(
        self, database: Database
    ) -> None:
        from roamcard.app import create_app
        from roamcard.config import get_settings
        from roamcard.payment import providers
        from tests.test_startup import sandbox_mounted

        settings = get_settings().model_copy(update={"sandbox_enabled": False})
        app = create_app(settings)
        assert not sandbox_mounted(app)
        providers.reset()
        providers.configure(settings)
        assert "sandbox" not in providers.available_methods()
