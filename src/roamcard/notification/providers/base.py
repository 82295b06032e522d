"""The one interface every SMS provider implements, and the three ways a send can go wrong.

A provider either takes the message (returns its id for it), or says for certain that it did not
(`SmsRejected`: this message cannot go, e.g. an invalid number or a missing template; `SmsNotAccepted`:
not now, e.g. refused connection or throttling, so a retry or the next provider may take it), or leaves
us not knowing (`SmsUncertain`: a timeout, a 5xx, a session lost before the answer). The last one is never
treated as a failure: the message becomes `unknown` and `query` settles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True)
class OutgoingSms:
    reference: str  # ours (notifications.key): the provider's idempotency/correlation reference
    phone: str  # E.164
    text: str  # the full text, secret included: never log it, log `masked_text`
    masked_text: str
    template: str
    language: str
    params: dict[str, str] = field(default_factory=dict)  # every template parameter, secret included
    carries_secret: bool = False


@dataclass(frozen=True)
class Lookup:
    """What we know about a message when we ask a provider what became of it."""

    reference: str
    phone: str
    provider_reference: str | None
    attempt_started_at: datetime
    text: str | None = None  # the full text while it is still known (unknown sends), else None
    unknown: bool = False  # the send's answer was lost: "not found" may mean "never taken"


ReportState = Literal["accepted", "delivered", "failed", "not_accepted", "pending"]


@dataclass(frozen=True)
class Report:
    """`accepted`: taken, no final receipt yet; `pending`: the provider cannot tell yet (ask again);
    `not_accepted`: it certainly never took the message, so it may be sent again."""

    state: ReportState
    provider_reference: str | None = None
    error_code: str | None = None


class SmsProviderError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code[:64]
        self.detail = detail[:200]


class SmsRejected(SmsProviderError):
    """Certain, and final for this message at any provider (rejected number, template missing)."""


class SmsNotAccepted(SmsProviderError):
    """Certain that this provider did not take it; a retry or another provider may."""


class SmsUncertain(SmsProviderError):
    """It may or may not have been taken."""


class SmsProvider(Protocol):
    name: str

    def send(self, message: OutgoingSms) -> str:
        """Send one message; returns the provider's id for it, or raises one of the errors above."""
        ...

    def query(self, lookup: Lookup) -> Report:
        """What became of a message (an unknown send, or a sent one waiting for its receipt)."""
        ...
