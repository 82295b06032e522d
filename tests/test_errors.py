"""One error code, one meaning: a code is never reused with a different message, across every domain."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

import roamcard
from roamcard.errors import AppError


def every_error_class() -> list[type[AppError]]:
    for module in pkgutil.walk_packages(roamcard.__path__, "roamcard."):
        importlib.import_module(module.name)
    found: list[type[AppError]] = []
    pending = list(AppError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_a_code_has_one_message() -> None:
    messages: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, set[str]] = defaultdict(set)
    for cls in every_error_class():
        code = cls.__dict__.get("code")
        if code is None:
            continue  # an abstract base, or a subclass that only changes the status
        messages[code].add(str(cls.message))
        owners[code].add(f"{cls.__module__}.{cls.__qualname__}")
    reused = {code: sorted(owners[code]) for code, texts in messages.items() if len(texts) > 1}
    assert reused == {}
