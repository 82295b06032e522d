"""What the server and the worker check before they start: fail closed in production.

A missing or development secret, or demo mode, stops the process with one log line per wrong setting,
naming its environment variable and never its value. The sandbox gateway may run in production only
when ROAMCARD_SANDBOX_ENABLED=true asks for it (staging, benchmarks), and then with a warning.
"""

from __future__ import annotations

import structlog

from roamcard.config import Settings


class StartupRefused(RuntimeError):
    """The settings are not safe to run with. The message names settings, never their values."""


def check(settings: Settings, *, warn: bool = True) -> None:
    """Raise StartupRefused when these settings must not serve; log what is wrong and what is risky."""
    log = structlog.get_logger("roamcard.startup")  # looked up now, so it follows the current log setup
    problems = settings.startup_problems()
    for problem in problems:
        log.error("startup.refused", setting=problem.env_name, problem=problem.problem)
    if problems:
        raise StartupRefused(
            "refusing to start in production: " + "; ".join(str(problem) for problem in problems)
        )
    if warn and settings.environment == "production" and settings.sandbox_enabled:
        log.warning(
            "startup.sandbox_enabled",
            setting="ROAMCARD_SANDBOX_ENABLED",
            problem="the sandbox gateway is on in production: anyone can pay with it (staging only)",
        )
    if warn and settings.environment == "production" and settings.twilio_auth_token is None:
        log.info("startup.hotline_off", setting="ROAMCARD_TWILIO_AUTH_TOKEN", problem="not set")


__all__ = ["StartupRefused", "check"]
