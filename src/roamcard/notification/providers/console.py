"""Writes each SMS to the log instead of sending it (the default; demo mode shows them in the app)."""

from __future__ import annotations

import structlog

log = structlog.get_logger("roamcard.sms")


class ConsoleProvider:
    name = "console"

    def send(self, phone: str, body: str, *, reference: str) -> str:
        log.info("sms.console", to=phone, body=body, reference=reference)
        return f"console-{reference}"
