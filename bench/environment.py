"""The settings the benchmarks give the processes they start.

The server and workers run as production does by default (ROAMCARD_ENVIRONMENT=production, demo mode
off), with the sandbox gateway and the console SMS provider switched on explicitly and fresh random
secrets. Set-up commands (`roamcard migrate`, `roamcard demo`, issuing cards) run with
ROAMCARD_ENVIRONMENT=development, since `roamcard demo` refuses production, and the SAME secrets, so
whatever they key or encrypt is readable by the server. PYTHONPATH is passed on with absolute entries, so
the children import the same roamcard sources as the bench (e.g. a worktree's src/)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_SETTINGS = (
    "ROAMCARD_SECRET_KEY",
    "ROAMCARD_SANDBOX_WEBHOOK_SECRET",
    "ROAMCARD_VOUCHER_PEPPER",
    "ROAMCARD_TWILIO_AUTH_TOKEN",
)


def random_secret() -> str:
    return secrets.token_urlsafe(36)  # 48 characters


def _absolute_pythonpath(value: str) -> str:
    return os.pathsep.join(str(Path(p).resolve()) for p in value.split(os.pathsep) if p)


class BenchEnvironment:
    """One set of secrets for one run; `server()` and `setup()` differ only in the environment."""

    def __init__(self, database_url: str, base_url: str, extra: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.base_url = base_url
        self.extra = dict(extra or {})
        self.secrets = {name: random_secret() for name in SECRET_SETTINGS}

    @property
    def webhook_secret(self) -> str:
        return self.secrets["ROAMCARD_SANDBOX_WEBHOOK_SECRET"]

    def _base(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROAMCARD_")}
        if env.get("PYTHONPATH"):
            env["PYTHONPATH"] = _absolute_pythonpath(env["PYTHONPATH"])
        env.update(
            {
                "ROAMCARD_DATABASE_URL": self.database_url,
                "ROAMCARD_PUBLIC_BASE_URL": self.base_url,
                "ROAMCARD_SANDBOX_ENABLED": "true",
                "ROAMCARD_SMS_ALLOW_CONSOLE": "true",
                "ROAMCARD_BRAND_NAME_ZH": "远游卡",
                "ROAMCARD_BRAND_NAME_EN": "Roamcard",
                "ROAMCARD_LOG_JSON": "true",
                **self.secrets,
                "COLUMNS": "200",  # keep Rich from wrapping the one-line verdicts the benches read back
            }
        )
        return env

    def server(self) -> dict[str, str]:
        """`roamcard serve` / `roamcard worker` (and the operator commands a bench times)."""
        env = self._base()
        env.update({"ROAMCARD_ENVIRONMENT": "production", "ROAMCARD_DEMO_MODE": "false"})
        env.update(self.extra)
        return env

    def setup(self) -> dict[str, str]:
        """`roamcard migrate`, `roamcard demo`, issuing cards: development, the same secrets."""
        env = self._base()
        env.update({"ROAMCARD_ENVIRONMENT": "development", "ROAMCARD_DEMO_MODE": "true"})
        env.update(self.extra)
        return env
