"""Capturing everything structlog emits, however the process configured it before.

`configure_logging` caches each module's logger on first use (`cache_logger_on_first_use`), bound to the
processors of that moment; `structlog.testing.capture_logs` only sees loggers bound to the current ones.
`captured_logs` makes every module-level logger of ours bind afresh, inside and after the capture, and
lets every level through while it lasts."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog._config import BoundLoggerLazyProxy


def _forget_cached_loggers() -> None:
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("roamcard"):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, BoundLoggerLazyProxy):
                value.__dict__.pop("bind", None)


@contextmanager
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every event at every level (the tests run at WARNING otherwise)."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    _forget_cached_loggers()
    try:
        with structlog.testing.capture_logs() as events:
            yield events
    finally:
        structlog.configure(wrapper_class=wrapper)
        _forget_cached_loggers()
