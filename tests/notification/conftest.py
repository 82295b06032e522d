from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from roamcard.config import get_settings
from roamcard.notification.providers.base import (
    Lookup,
    OutgoingSms,
    Report,
    SmsNotAccepted,
    SmsRejected,
    SmsUncertain,
)


@dataclass
class FakeProvider:
    """A provider whose answers the test scripts; it remembers every message it took."""

    name: str
    outcomes: list[str] = field(
        default_factory=list
    )  # "ok", "rejected", "not_accepted", "uncertain", "taken-lost"
    taken: list[OutgoingSms] = field(default_factory=list)
    attempts: int = 0
    query_answer: str | None = None  # None: from what was taken

    def send(self, message: OutgoingSms) -> str:
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "rejected":
            raise SmsRejected("invalid_number", "the number does not exist")
        if outcome == "not_accepted":
            raise SmsNotAccepted("throttled")
        if outcome == "uncertain":
            raise SmsUncertain("timeout")
        self.taken.append(message)
        if outcome == "taken-lost":  # taken, but the answer never came back
            raise SmsUncertain("timeout")
        return f"{self.name}-{len(self.taken)}"

    def query(self, lookup: Lookup) -> Report:
        if self.query_answer is not None:
            return Report(self.query_answer)  # type: ignore[arg-type]
        for index, message in enumerate(self.taken, 1):
            if message.reference == lookup.reference:
                return Report("accepted", f"{self.name}-{index}")
        return Report("not_accepted" if lookup.unknown else "pending")


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def set_routes(spec: str) -> None:
        monkeypatch.setattr(get_settings(), "sms_routes", spec)

    return set_routes


@pytest.fixture
def no_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in production: nothing keeps a secret for the demo page."""
    monkeypatch.setattr(get_settings(), "demo_mode", False)
