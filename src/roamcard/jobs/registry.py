"""Job kinds and their handlers: a plain dict filled by `@job`/`@external_job` as each tasks module is
imported. The registry imports no tasks module; the entry point that runs jobs imports them all through
`roamcard.tasks` (one way, no hidden cycles). A handler takes the job's lean transaction (`Tx`; a step
that needs the ORM gets a session in the same transaction from `roamcard.db.session_of(tx)`) and the
payload, and must be safe to run twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roamcard.kit.sql import Tx

if TYPE_CHECKING:
    from roamcard.db import Database

Handler = Callable[[Tx, dict[str, Any]], None]
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


class UnknownJobKind(KeyError):
    pass


def handler_for(kind: str) -> Registered:
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownJobKind(
            f"no handler for job kind {kind!r}: is its tasks module in roamcard/tasks.py?"
        ) from None


def kinds() -> list[str]:
    return sorted(_handlers)
