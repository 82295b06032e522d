from __future__ import annotations

from fastapi.testclient import TestClient

from roamcard.config import Settings
from roamcard.db import Database


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
        assert client.get("/docs").status_code == 200

    def test_unknown_route_is_problem_json_in_the_asked_language(self, client: TestClient) -> None:
        response = client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert response.headers["Content-Language"] == "en"

    def test_every_response_has_a_request_id(self, client: TestClient) -> None:
        assert client.get("/healthz", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"] == "abc123"


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
