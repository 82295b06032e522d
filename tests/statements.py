"""Counting the lean path's statements in a test."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from roamcard.kit.sql import Tx


def record_statements(monkeypatch: pytest.MonkeyPatch, *, first_words: bool = False) -> list[str]:
    """Every `Tx` statement run from now on by the code under test (only its first word, such as SELECT,
    with `first_words`). Statements of a job worker's threads are left out: the browser tests' live
    server keeps a worker polling its own database in this process."""
    statements: list[str] = []
    real = Tx._execute

    def execute(tx: Tx, sql: str, params: dict[str, Any]) -> Any:
        if not threading.current_thread().name.startswith("roamcard-"):
            statements.append(sql.split()[0] if first_words else sql)
        return real(tx, sql, params)

    monkeypatch.setattr(Tx, "_execute", execute)
    return statements
