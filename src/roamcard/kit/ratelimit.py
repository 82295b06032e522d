"""Failure counters for logins and PIN entries, on the `limits` library.

`memory://` serves one process; set ROAMCARD_RATE_LIMIT_STORAGE_URL=redis://… so every server process
shares the same counters.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache
from typing import cast

from limits import RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter


@cache
def _limiter(storage_url: str) -> tuple[Storage, MovingWindowRateLimiter]:
    storage = cast(Storage, storage_from_string(storage_url))
    return storage, MovingWindowRateLimiter(storage)


@dataclass(frozen=True)
class FailureLimit:
    """At most `max_failures` within `window_seconds` per key."""

    namespace: str
    max_failures: int
    window_seconds: int
    storage_url: str

    def _item(self) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(self.max_failures, self.window_seconds, namespace=self.namespace)

    def retry_after(self, key: str) -> int | None:
        """Seconds until another attempt is allowed, or None when attempts are allowed now."""
        _, limiter = _limiter(self.storage_url)
        if limiter.test(self._item(), key):
            return None
        stats = limiter.get_window_stats(self._item(), key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def record_failure(self, key: str) -> None:
        _, limiter = _limiter(self.storage_url)
        limiter.hit(self._item(), key)

    def clear(self, key: str) -> None:
        _, limiter = _limiter(self.storage_url)
        limiter.clear(self._item(), key)


def reset_all(storage_url: str) -> None:
    storage, _ = _limiter(storage_url)
    storage.reset()


def consume(limit: FailureLimit, key: str) -> int | None:
    """Count one use now, atomically with the check (the storage's own hit): None when it was allowed,
    else the seconds until one is (and this use was not counted)."""
    _, limiter = _limiter(limit.storage_url)
    if limiter.hit(limit._item(), key):
        return None
    stats = limiter.get_window_stats(limit._item(), key)
    return max(1, math.ceil(stats.reset_time - time.time()))
