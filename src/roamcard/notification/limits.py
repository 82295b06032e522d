"""Per-number limits, so the platform cannot be used to flood a phone with codes."""

from __future__ import annotations

from roamcard.config import get_settings
from roamcard.kit.ratelimit import FailureLimit, consume


def _codes() -> FailureLimit:
    settings = get_settings()
    return FailureLimit(
        "sms-codes", settings.sms_codes_per_number_per_hour, 3600, settings.rate_limit_storage_url
    )


def consume_code(phone: str) -> int | None:
    """Count one verification code to this number; seconds to wait when it is one too many."""
    return consume(_codes(), phone)
