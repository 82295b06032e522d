"""CSRF tokens for the portal and the back office: one construction, two scopes.

A token is `<issued at>.<key id>:<hex HMAC-SHA256>` under the "csrf" purpose key (keys.py) over the
scope, what the token is bound to (a random browser cookie, a staff session) and the time of issue. The
key id lets a form issued just before a rotation of ROAMCARD_SECRET_KEY still post while the previous
secret is configured; each area keeps its own binding rules, maximum age and error (portal/security.py,
backoffice/security.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from roamcard import keys

# A clock a minute ahead of ours on another server still issues tokens we accept.
CLOCK_SKEW_SECONDS = 60


def _message(scope: str, binding: str, issued_at: int) -> bytes:
    return f"{scope}:{binding}:{issued_at}".encode()


def issue(scope: str, binding: str, now: float | None = None) -> str:
    issued_at = int(now if now is not None else time.time())
    return f"{issued_at}.{keys.mac('csrf', _message(scope, binding, issued_at))}"


def valid(
    scope: str, token: str | None, bindings: Iterable[str], *, max_age_seconds: int, now: float | None = None
) -> bool:
    """Whether `token` was issued in this scope, to one of `bindings`, within `max_age_seconds`."""
    issued, _, tag = (token or "").partition(".")
    if not issued.isdigit() or not tag:
        return False
    age = (now if now is not None else time.time()) - int(issued)
    if not -CLOCK_SKEW_SECONDS <= age <= max_age_seconds:
        return False
    return any(keys.verify_mac("csrf", _message(scope, binding, int(issued)), tag) for binding in bindings)


__all__ = ["issue", "valid"]
