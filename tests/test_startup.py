"""Fail closed: production is the default, and it refuses development secrets, demo mode and a silent
sandbox (issue 9, item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from roamcard import cli, startup
from roamcard.app import create_app
from roamcard.config import Settings, get_settings
from roamcard.db import Database
from roamcard.models import Card
from tests.factories import make_card
from tests.topup.test_api_flow import sign_in

ROOT = Path(__file__).resolve().parents[1]
GOOD = {
    "secret_key": "k" * 40,
    "sandbox_webhook_secret": "s" * 40,
    "voucher_pepper": "p" * 40,
    # SMS has its own start-up check (tests/notification): a staging copy that may log texts.
    "sms_allow_console": True,
    "brand_name_zh": "远游卡",
    "brand_name_en": "Roamcard",
}
LEAKY = "not-long-enough-0xC0FFEE"  # a wrong value that must never be echoed


def sandbox_mounted(app: FastAPI) -> bool:
    from roamcard.sandbox.endpoints import router

    return any(getattr(route, "original_router", route) is router for route in app.routes)


def production(**values: object) -> Settings:
    return Settings(_env_file=None, environment="production", **{**GOOD, **values})  # type: ignore[arg-type]


class TestTheDefaultIsProduction:
    def test_settings_without_an_environment_are_production_without_demo_or_sandbox(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("ROAMCARD_ENVIRONMENT")
        settings = Settings(_env_file=None)
        assert settings.environment == "production"
        assert (settings.demo_mode, settings.demo_enabled, settings.sandbox_enabled) == (False, False, False)
        assert settings.twilio_auth_token is None

    def test_the_defaults_are_refused_naming_every_development_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("ROAMCARD_ENVIRONMENT")
        names = {problem.env_name for problem in Settings(_env_file=None).startup_problems()}
        assert names == {"ROAMCARD_SECRET_KEY", "ROAMCARD_SANDBOX_WEBHOOK_SECRET", "ROAMCARD_VOUCHER_PEPPER"}

    def test_development_and_test_keep_their_development_defaults(self) -> None:
        for environment in ("development", "test"):
            settings = Settings(_env_file=None, environment=environment)
            assert settings.startup_problems() == []
            assert (settings.demo_enabled, settings.sandbox_enabled) == (True, True)
            assert settings.twilio_auth_token is not None


class TestProductionSecrets:
    @pytest.mark.parametrize(
        ("setting", "value"),
        [
            ("secret_key", "dev-only-secret-change-me"),
            ("secret_key", LEAKY),
            ("secret_key_previous", LEAKY),
            ("voucher_pepper", "dev-only-voucher-pepper"),
            ("sandbox_webhook_secret", "whsec_dev_sandbox_change_me"),
            ("twilio_auth_token", "dev-only-twilio-token"),
            ("twilio_auth_token", LEAKY),
            ("stripe_webhook_secret", ""),
        ],
    )
    def test_a_wrong_secret_is_named_by_its_variable(self, setting: str, value: str) -> None:
        problems = production(**{setting: value}).startup_problems()
        assert [problem.env_name for problem in problems] == [f"ROAMCARD_{setting.upper()}"]
        assert value not in " ".join(str(problem) for problem in problems) or not value

    def test_real_secrets_and_an_unused_hotline_pass(self) -> None:
        assert production().startup_problems() == []

    def test_provider_secrets_in_their_own_formats_pass(self) -> None:
        # Alibaba Cloud AccessKey secrets are 30 characters and SMPP passwords at most 8.
        settings = production(aliyun_sms_access_key_secret="a" * 30, smpp_password="Xy7#kP2q")
        assert settings.startup_problems() == []
        assert production(twilio_auth_token="a" * 32, stripe_secret_key="sk_live_x").startup_problems() == []

    def test_demo_mode_is_refused_in_production_even_when_asked_for(self) -> None:
        settings = production(demo_mode=True)
        assert not settings.demo_enabled
        assert [p.env_name for p in settings.startup_problems()] == ["ROAMCARD_DEMO_MODE"]


class TestTheAppRefusesToStart:
    def test_create_app_refuses_a_development_secret_and_logs_the_variable_not_the_value(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(startup.StartupRefused, match="ROAMCARD_SECRET_KEY") as refused:
            create_app(production(secret_key=LEAKY))
        logged = capsys.readouterr()
        assert "startup.refused" in logged.out
        assert "ROAMCARD_SECRET_KEY" in logged.out
        assert LEAKY not in logged.out + logged.err + str(refused.value)

    def test_the_sandbox_in_production_is_served_with_a_warning(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        app = create_app(production(sandbox_enabled=True))
        assert sandbox_mounted(app)
        out = capsys.readouterr().out
        assert "startup.sandbox_enabled" in out
        assert "ROAMCARD_SANDBOX_ENABLED" in out

    def test_production_without_the_sandbox_starts_quietly(self, capsys: pytest.CaptureFixture[str]) -> None:
        app = create_app(production())
        assert not sandbox_mounted(app)
        assert "startup.sandbox_enabled" not in capsys.readouterr().out

    @pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker", "--once"]])
    def test_the_serve_and_worker_commands_refuse_and_name_the_variable(
        self, command: list[str], tmp_path: Path
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROAMCARD_")}
        env.update(
            {
                "ROAMCARD_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
                "ROAMCARD_SECRET_KEY": LEAKY,
                "ROAMCARD_SANDBOX_WEBHOOK_SECRET": "s" * 40,
                "ROAMCARD_VOUCHER_PEPPER": "p" * 40,
                "PYTHONPATH": str(ROOT / "src"),
            }
        )  # no ROAMCARD_ENVIRONMENT: the default must be production
        result = subprocess.run(
            [sys.executable, "-c", "from roamcard.cli import app; app()", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "ROAMCARD_SECRET_KEY" in result.stdout + result.stderr
        assert LEAKY not in result.stdout + result.stderr
        assert "Uvicorn running" not in result.stderr


class TestDemoIsNeverOnInProduction:
    def test_roamcard_demo_refuses_production_and_creates_nothing(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cli, "get_settings", lambda: production(demo_mode=True))
        result = CliRunner().invoke(cli.app, ["demo"])
        assert result.exit_code == 2
        assert "production" in result.output
        with database.reading() as session:
            assert session.query(Card).count() == 0

    def test_the_demo_messages_endpoint_is_not_found_in_production(
        self, database: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from roamcard.notification import endpoints

        with database.transaction() as session:
            number = make_card(session).card_number
        auth = sign_in(client, number)
        assert client.get("/api/v1/demo/messages", headers=auth).status_code == 200  # test mode: on
        asked = get_settings().model_copy(update={"environment": "production", "demo_mode": True})
        monkeypatch.setattr(endpoints, "get_settings", lambda: asked)
        assert client.get("/api/v1/demo/messages", headers=auth).status_code == 404
