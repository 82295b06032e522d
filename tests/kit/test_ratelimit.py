from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from roamcard.kit.ratelimit import FailureLimit

REDIS_URL = os.environ.get("ROAMCARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _redis_reason() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}"
    return None


@pytest.fixture(params=["memory://", "redis"])
def storage_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        reason = _redis_reason()
        if reason:
            if IN_CI:
                pytest.fail(f"CI requires Redis: {reason}")
            pytest.skip(reason)
        yield REDIS_URL
        return
    yield request.param


class TestFailureLimit:
    def test_blocks_after_the_limit_and_says_when_to_retry(self, storage_url: str) -> None:
        limit = FailureLimit(f"test-{uuid.uuid4().hex}", 3, 60, storage_url)
        for _ in range(3):
            assert limit.retry_after("203.0.113.7") is None
            limit.record_failure("203.0.113.7")
        retry = limit.retry_after("203.0.113.7")
        assert retry is not None
        assert 1 <= retry <= 60
        assert limit.retry_after("198.51.100.1") is None  # other keys are not affected

    def test_clear_forgets_failures(self, storage_url: str) -> None:
        limit = FailureLimit(f"test-{uuid.uuid4().hex}", 1, 60, storage_url)
        limit.record_failure("k")
        limit.clear("k")
        assert limit.retry_after("k") is None
