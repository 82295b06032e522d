"""Engines and sessions.

SQLite: WAL, a busy timeout, and `BEGIN IMMEDIATE` for write transactions, so two writers queue instead of
failing with "database is locked" when a read transaction later tries to write (docs/architecture.md).
Read-only sessions use a deferred BEGIN so readers never wait for the writer.
Within one process, writers also queue on a lock before `BEGIN IMMEDIATE` and are woken the moment the
previous writer commits; SQLite's own busy handler (which sleeps in steps of up to 100 ms) then only
arbitrates between processes.
PostgreSQL: psycopg 3 with a pool sized for the threadpool.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from roamcard.config import Settings, get_settings

READ_ONLY = {"roamcard_read_only": True}
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and pick the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                "factory": _writer_queue_connection_class(),
            },
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class _WriterQueueConnection(sqlite3.Connection):
    """A sqlite3 connection that holds its engine's writer lock from `BEGIN IMMEDIATE` until the
    transaction has really ended (commit, rollback or close), so the next writer in this process starts
    as soon as the database is free instead of polling for it."""

    writer_lock: threading.Lock  # one per engine (see _writer_queue_connection_class)
    holds_writer_lock = False

    def begin_immediate(self) -> None:
        if not self.holds_writer_lock:
            if not self.writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS):
                raise sqlite3.OperationalError("database is locked")
            self.holds_writer_lock = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer_lock()


def _writer_queue_connection_class() -> type[_WriterQueueConnection]:
    """A connection class with its own writer lock: one lock per engine, shared by its connections."""
    return type("SQLiteConnection", (_WriterQueueConnection,), {"writer_lock": threading.Lock()})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("roamcard_read_only"):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, _WriterQueueConnection):
            dbapi_connection.begin_immediate()
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine and its session factories; one per process (tests make their own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = build_engine(settings.database_url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._read = sessionmaker(
            self.engine.execution_options(**READ_ONLY), expire_on_commit=False, autoflush=False
        )

    def session(self) -> Session:
        return self._write()

    def read_session(self) -> Session:
        return self._read()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The edge of a unit of work (job, CLI command): commit on success, roll back on error."""
        session = self._write()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        session = self._read()
        try:
            yield session
        finally:
            session.close()  # ends the read transaction; loaded objects stay readable (no expiry)

    def dispose(self) -> None:
        self.engine.dispose()


_database: Database | None = None


def get_database() -> Database:
    global _database
    if _database is None:
        _database = Database(get_settings())
    return _database


def set_database(database: Database | None) -> None:
    global _database
    _database = database


@contextmanager
def attempt(session: Session) -> Iterator[None]:
    """Run one service call inside a longer transaction (an IVR step, a console action) in a savepoint:
    an AppError undoes its partial writes unless the error is a recorded outcome (`keeps_changes`, e.g. a
    failed-login counter), exactly as at a request's edge."""
    from roamcard.errors import AppError

    savepoint = session.begin_nested()
    try:
        yield
    except AppError as error:
        if error.keeps_changes:
            savepoint.commit()
        else:
            savepoint.rollback()
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()


_insert_ignoring: dict[tuple[Any, str], Any] = {}


def _insert_ignoring_statement(table: Any, dialect: str) -> Any:
    """Built once per table and engine kind: the row travels as parameters, so SQLAlchemy neither rebuilds
    the statement nor recomputes its cache key on every call (that cost more than the INSERT itself)."""
    statement = _insert_ignoring.get((table, dialect))
    if statement is None:
        core_table = table.__table__
        primary_key = next(iter(core_table.primary_key.columns))
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(core_table).on_conflict_do_nothing().returning(primary_key)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(core_table).on_conflict_do_nothing().returning(primary_key)
        _insert_ignoring[(table, dialect)] = statement
    return statement


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either engine; True when this call inserted the row.

    RETURNING tells us reliably whether a row went in (rowcount is not reliable across drivers)."""
    statement = _insert_ignoring_statement(table, session.get_bind().dialect.name)
    # A Core statement does not autoflush by itself: flush pending objects first, as an ORM one would.
    session._autoflush()
    return session.execute(statement, values).first() is not None
