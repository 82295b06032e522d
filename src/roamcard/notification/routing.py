"""ROAMCARD_SMS_ROUTES: which providers, in order, may carry a message to a number.

"+86=aliyun,twilio; *=twilio,smpp": the longest matching prefix wins, `*` matches every number."""

from __future__ import annotations

from functools import lru_cache

from roamcard.config import get_settings
from roamcard.notification.providers import NAMES


class InvalidRoutes(ValueError):
    pass


@lru_cache(maxsize=8)
def parse_routes(spec: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    routes: list[tuple[str, tuple[str, ...]]] = []
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        prefix, equals, names = entry.partition("=")
        prefix = prefix.strip()
        providers = tuple(filter(None, (name.strip() for name in names.split(","))))
        if (
            not equals
            or not providers
            or not (prefix == "*" or (prefix.startswith("+") and prefix[1:].isdigit()))
        ):
            raise InvalidRoutes(
                f"ROAMCARD_SMS_ROUTES: cannot read {entry!r} (write +86=aliyun,twilio; *=twilio)"
            )
        for name in providers:
            if name not in NAMES:
                raise InvalidRoutes(f"ROAMCARD_SMS_ROUTES: no SMS provider named {name!r}")
        routes.append((prefix, providers))
    if not routes:
        raise InvalidRoutes("ROAMCARD_SMS_ROUTES: no route")
    return tuple(sorted(routes, key=lambda route: -1 if route[0] == "*" else len(route[0]), reverse=True))


def route_for(phone: str, spec: str | None = None) -> tuple[str, ...]:
    """The providers for this number, in order; empty when no route matches (the message fails)."""
    for prefix, providers in parse_routes(spec if spec is not None else get_settings().sms_routes):
        if prefix == "*" or phone.startswith(prefix):
            return providers
    return ()
