"""Hand-written SQL on an open driver connection: the lean path's one way to talk to the database.

A `Tx` wraps a DB-API connection whose transaction is already open (a request's, a job's, or an ORM
session's, see roamcard/db.py) and runs statements written once with `:name` parameters:

    row = tx.one("SELECT balance FROM ledger_accounts WHERE code = :code", code=code)

Each statement text is converted once per dialect and cached; on PostgreSQL psycopg prepares it on the
server, so a hot statement is parsed and planned once per connection. No ORM unit of work, no statement
compilation per call: the cost is the driver's and the database's.

Values are stored exactly as SQLAlchemy stores them, so ORM code reads what this writes: a datetime is UTC
(on SQLite the text `YYYY-MM-DD HH:MM:SS.ffffff`, as SQLAlchemy's DATETIME writes it), JSON goes through
`tx.json(value)`. Results are plain tuples; `tx.dt` turns a stored datetime back into an aware one.
"""

from __future__ import annotations

import json as stdlib_json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import count
from typing import Any

from psycopg.types.json import Json

# A quoted literal (kept as it is: ':wallet:' is text, not a parameter) or a `:name` parameter.
_PARAMETER = re.compile(r"('(?:[^']|'')*')|(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_compiled: dict[tuple[str, bool], str] = {}
_savepoints = count(1)


def _compile(sql: str, sqlite: bool) -> str:
    """`:name` → sqlite3's own `:name`, or psycopg's `%(name)s` (a literal `%` doubled)."""
    cache_key = (sql, sqlite)
    compiled = _compiled.get(cache_key)
    if compiled is None:
        compiled = sql if sqlite else _PARAMETER.sub(_psycopg_parameter, sql.replace("%", "%%"))
        _compiled[cache_key] = compiled
    return compiled


def _psycopg_parameter(match: re.Match[str]) -> str:
    literal, name = match.groups()
    return literal if literal is not None else f"%({name})s"


def sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME format, in UTC (UTCDateTime converts before it stores)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    # isoformat is ~2x faster than strftime (dozens of datetimes per top-up); cut "+00:00" off its end.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


class Tx:
    """One open transaction. Never commits: whoever opened the transaction ends it."""

    __slots__ = ("_after_commit", "_connection", "_cursor", "cache", "info", "is_sqlite")

    def __init__(
        self,
        connection: Any,
        *,
        sqlite: bool,
        info: dict[str, Any] | None = None,
        after_commit: list[Callable[[], None]] | None = None,
        cache: dict[Any, Any] | None = None,
    ) -> None:
        self._connection = connection
        self._cursor: Any = None
        self.is_sqlite = sqlite
        # Shared with the ORM session when the Tx rides on one (flags such as "wake the worker").
        self.info: dict[str, Any] = {} if info is None else info
        self._after_commit: list[Callable[[], None]] = [] if after_commit is None else after_commit
        # Per database and process: facts that never change once committed (filled by after_commit).
        self.cache: dict[Any, Any] = {} if cache is None else cache

    # -- statements ------------------------------------------------------------------------------
    def _execute(self, sql: str, params: dict[str, Any]) -> Any:
        if self.is_sqlite:
            for name, value in params.items():
                if isinstance(value, datetime):
                    params[name] = sqlite_datetime(value)
            return self._connection.execute(sql, params)
        if self._cursor is None:  # one cursor per transaction: each result is read before the next call
            self._cursor = self._connection.cursor()
        self._cursor.execute(_compile(sql, False), params, prepare=True)
        return self._cursor

    def one(self, sql: str, **params: Any) -> tuple[Any, ...] | None:
        cursor = self._execute(sql, params)
        row = cursor.fetchone()
        return row if row is None else tuple(row)

    def all(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._execute(sql, params).fetchall()]

    def value(self, sql: str, **params: Any) -> Any:
        row = self.one(sql, **params)
        return None if row is None else row[0]

    def run(self, sql: str, **params: Any) -> int:
        """A statement for its effect; returns the number of rows it changed."""
        return int(self._execute(sql, params).rowcount)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only this block's writes when it raises (a job in a batch, one step of a longer unit)."""
        name = f"rc_sp_{next(_savepoints)}"
        registered = len(self._after_commit)
        self.run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.run(f"ROLLBACK TO SAVEPOINT {name}")
            self.run(f"RELEASE SAVEPOINT {name}")
            del self._after_commit[registered:]  # what the undone block asked for after commit goes too
            raise
        self.run(f"RELEASE SAVEPOINT {name}")

    # -- values ----------------------------------------------------------------------------------
    def json(self, value: Any) -> Any:
        """A parameter for a JSON column (SQLAlchemy's JSON type reads it back on either engine)."""
        if self.is_sqlite:
            return stdlib_json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return Json(value)

    def loads(self, value: Any) -> Any:
        """A JSON column as read: text on SQLite, already decoded on PostgreSQL."""
        return stdlib_json.loads(value) if isinstance(value, str | bytes) else value

    @staticmethod
    def dt(value: Any) -> datetime | None:
        """A stored datetime, aware and in UTC, whichever engine returned it."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run once the surrounding transaction has committed (never after a rollback); a callback
        already registered in this transaction is not added twice."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)
