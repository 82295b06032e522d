"""Job kinds and their handlers. A handler takes the session and the payload and must be safe to run twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from roamcard.db import Database

Handler = Callable[[Session, dict[str, Any]], None]
ExternalHandler = Callable[["Database", dict[str, Any]], None]


@dataclass(frozen=True)
class Registered:
    kind: str
    handler: Any
    # External jobs talk to the outside world (SMS, HTTP). They get the Database and open their own short
    # transactions around the call, so no write lock is held while waiting on the network.
    external: bool


_handlers: dict[str, Registered] = {}


def job(kind: str) -> Callable[[Handler], Handler]:
    """A job whose effects commit atomically with its `done` mark."""

    def register(func: Handler) -> Handler:
        _handlers[kind] = Registered(kind, func, external=False)
        return func

    return register


def external_job(kind: str) -> Callable[[ExternalHandler], ExternalHandler]:
    def register(func: ExternalHandler) -> ExternalHandler:
        _handlers[kind] = Registered(kind, func, external=True)
        return func

    return register


def handler_for(kind: str) -> Registered:
    load_all()
    return _handlers[kind]


def kinds() -> list[str]:
    load_all()
    return sorted(_handlers)


def load_all() -> None:
    """Import every tasks module so its handlers register."""
    from roamcard.notification import tasks as _notification  # noqa: F401
    from roamcard.payment import tasks as _payment  # noqa: F401
    from roamcard.refund import tasks as _refund  # noqa: F401
    from roamcard.sandbox import tasks as _sandbox  # noqa: F401
    from roamcard.topup import tasks as _topup  # noqa: F401
