from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from roamcard.config import Settings


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
        with pytest.raises(ValidationError, match="ROAMCARD_SECRET_KEY"):
            Settings(environment="production")

    def test_production_accepts_real_secrets(self) -> None:
        settings = Settings(
            environment="production",
            secret_key="k" * 40,
            sandbox_webhook_secret="s" * 40,
            voucher_pepper="p" * 40,
        )
        assert settings.environment == "production"

    def test_production_refuses_the_development_voucher_pepper(self) -> None:
        with pytest.raises(ValidationError, match="ROAMCARD_VOUCHER_PEPPER"):
            Settings(environment="production", secret_key="k" * 40, sandbox_webhook_secret="s" * 40)

    def test_public_base_url_loses_its_trailing_slash(self) -> None:
        assert (
            Settings(public_base_url="https://pay.example.com/").public_base_url == "https://pay.example.com"
        )
