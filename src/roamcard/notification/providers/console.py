"""Writes each SMS to the log instead of sending it (development and tests; demo mode shows them in the app).

A message that carries a secret is logged masked: the secret never reaches a log line."""

from __future__ import annotations

import structlog

from roamcard.notification.providers.base import Lookup, OutgoingSms, Report

log = structlog.get_logger("roamcard.sms")


class ConsoleProvider:
    name = "console"

    def send(self, message: OutgoingSms) -> str:
        log.info("sms.console", to=message.phone, body=message.masked_text, reference=message.reference)
        return f"console-{message.reference}"[:64]

    def query(self, lookup: Lookup) -> Report:
        # Whatever reached send() was "delivered" to the log.
        return Report("delivered", provider_reference=lookup.provider_reference)
