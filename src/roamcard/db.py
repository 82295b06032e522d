"""Engines and sessions.

SQLite: WAL, a busy timeout, and `BEGIN IMMEDIATE` for write transactions, so two writers queue instead of
failing with "database is locked" when a read transaction later tries to write (docs/architecture.md).
Read-only sessions use a deferred BEGIN so readers never wait for the writer.
Within one process, writers also queue on a lock before `BEGIN IMMEDIATE` and are woken the moment the
previous writer commits; SQLite's own busy handler (which sleeps in steps of up to 100 ms) then only
arbitrates between processes.
PostgreSQL: psycopg 3 with a pool sized for the real concurrency whose connections are kept (a new
PostgreSQL connection is a fork and an authentication), pinged only after they sat idle.

The lean path (docs/architecture.md, "The hot path") skips the ORM: `Database.tx()` opens a write
transaction on a pooled driver connection and hands out a `kit.sql.Tx`; `tx_of(session)` gives the same
interface inside an ORM session's transaction, so one implementation of a rule serves both. The other
direction: `Database.job_transaction()` opens a lean `Tx` on a SQLAlchemy connection, and `session_of(tx)`
binds an ORM session to that same transaction only when a step needs the ORM (a late payment's refund,
an SMS receipt), inside a savepoint of its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from roamcard.config import Settings, get_settings
from roamcard.kit.sql import Tx

T = TypeVar("T")
READ_ONLY = {"roamcard_read_only": True}
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# A pooled PostgreSQL connection idle for longer than this is pinged before use (a restarted server or a
# dropped link shows there, not in the middle of a payment); busy connections are not pinged at all.
PING_AFTER_IDLE_SECONDS = 10.0
# Every thread that can hold a connection at once: HTTP_THREADS request threads, the worker, its
# external jobs (job_external_concurrency, 8) and its heartbeat; these connections are kept. The small
# overflow is for the few ORM endpoints that hold a read and a write session at once: only past the real
# concurrency is a connection opened for one request and closed after it (a fork and an authentication).
HTTP_THREADS = 24
DEFAULT_POOL_SIZE = HTTP_THREADS + 10
POOL_OVERFLOW = 8


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and pick the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE, echo: bool = False) -> Engine:
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
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=POOL_OVERFLOW,
    )
    _ping_when_idle(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Room for every hot statement and the ORM's own next to it (psycopg's default keeps 100).
        dbapi_connection.prepared_max = 1000

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Instead of `pool_pre_ping` (a round trip before every transaction): ping only a connection that sat
    idle in the pool, and let SQLAlchemy replace it when the ping fails."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["roamcard_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("roamcard_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as error:
            raise exc.DisconnectionError() from error


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

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """A write transaction on a pooled driver connection, for the lean path: commit on success, roll
        back on error (an AppError that `keeps_changes` commits, as at a request's edge)."""
        from roamcard.errors import AppError

        pooled = self.engine.raw_connection()
        connection: Any = pooled.dbapi_connection
        tx = Tx(connection, sqlite=self.is_sqlite, cache=engine_cache(self.engine))
        try:
            if self.is_sqlite:
                connection.begin_immediate()
            try:
                yield tx
            except AppError as error:
                if not error.keeps_changes:
                    raise
                connection.commit()
                _run_after_commit(tx)
                raise
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        except BaseException:
            if self.is_sqlite:
                connection.rollback()  # releases the writer lock if BEGIN or COMMIT failed half-way
            raise
        finally:
            pooled.close()
        _run_after_commit(tx)

    @contextmanager
    def job_transaction(self) -> Iterator[Tx]:
        """A write transaction for jobs: a lean `Tx`, on a SQLAlchemy connection so that `session_of(tx)`
        can bind an ORM session to this same transaction, lazily, for the handlers that still need one.
        Commit on success, roll back on any error (as `transaction()`); a session opened inside is
        flushed before the commit (see `session_scope`)."""
        connection = self.engine.connect()
        try:
            transaction = connection.begin()  # SQLite: BEGIN IMMEDIATE, in the writer queue
            tx = Tx(
                connection.connection.dbapi_connection,
                sqlite=self.is_sqlite,
                cache=engine_cache(self.engine),
            )
            tx.info[_OPEN_SESSION] = lambda: _joined_session(connection, tx)
            try:
                with session_scope(tx):
                    yield tx
            except BaseException:
                transaction.rollback()
                raise
            try:
                transaction.commit()
            except BaseException:
                # SQLAlchemy counts the transaction as ended either way: make sure the driver's is too (on
                # SQLite this also frees the writer lock) before the connection goes back to the pool.
                dbapi_connection = connection.connection.dbapi_connection
                if dbapi_connection is not None:
                    with suppress(Exception):
                        dbapi_connection.rollback()
                raise
        finally:
            connection.close()
        _run_after_commit(tx)

    @contextmanager
    def autocommit(self) -> Iterator[Tx]:
        """Statements that each commit on their own: reads of one statement (no BEGIN and COMMIT round
        trips), and writes that are a whole unit of work in one statement."""
        pooled = self.engine.raw_connection()
        connection: Any = pooled.dbapi_connection
        tx = Tx(connection, sqlite=self.is_sqlite, cache=engine_cache(self.engine))
        try:
            if not self.is_sqlite:
                connection.autocommit = True
            yield tx
        finally:
            try:
                if not self.is_sqlite:
                    connection.autocommit = False
            finally:
                pooled.close()
            # Each statement has committed as it ran: what was registered after one is due now.
            _run_after_commit(tx)

    async def run(self, unit_of_work: Callable[[], T]) -> T:
        """An async endpoint's one hop off the event loop: the whole unit of work (its transaction, its
        driver calls) runs in one worker thread, so a request changes threads once, not per dependency."""
        return await anyio.to_thread.run_sync(unit_of_work)

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


def _run_after_commit(tx: Tx) -> None:
    callbacks = tx._after_commit
    while callbacks:
        callbacks.pop(0)()


_AFTER_COMMIT = "roamcard_after_commit"
_SAVEPOINT_MARKS = "roamcard_savepoint_marks"  # savepoint -> how many callbacks were registered before it
_engine_caches: weakref.WeakKeyDictionary[Engine, dict[Any, Any]] = weakref.WeakKeyDictionary()


def engine_cache(engine: Engine) -> dict[Any, Any]:
    """What `Tx.cache` holds for one database, shared by every transaction on it in this process."""
    cache = _engine_caches.get(engine)
    if cache is None:
        cache = _engine_caches.setdefault(engine, {})
    return cache


_OPEN_SESSION = "roamcard_open_session"  # Tx.info: how to bind a session to the Tx's transaction
_SESSION = "roamcard_session"  # Tx.info: the session bound to it, while one is open
_JOINED = "roamcard_joined_tx"  # Session.info: bound to a lean transaction, which owns its commit
_ORIGIN = "roamcard_origin"  # Session.info (so the info of its tx_of): a weak reference to the session


def _joined_session(connection: Connection, tx: Tx) -> Session:
    """An ORM session inside the transaction of `connection`, in a savepoint of its own: a failed flush
    undoes only the session's writes, never the rest of the lean transaction. What it registers to run
    after commit joins the Tx's list, so it runs once the lean transaction has committed."""
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=True
    )
    session.info[_JOINED] = True
    session.info[_AFTER_COMMIT] = tx._after_commit
    return session


def session_of(db: Session | Tx) -> Session:
    """The ORM for a step that needs it, in the caller's transaction: a Session is itself; a Tx of
    `Database.job_transaction()` gets a session bound to its connection, opened on the first call and
    kept until `session_scope` ends it (the worker ends it with each job). Pending ORM writes are flushed
    by the next `tx_of(session)`, or when the scope ends."""
    if isinstance(db, Session):
        return db
    session: Session | None = db.info.get(_SESSION)
    if session is None:
        origin = db.info.get(_ORIGIN)  # a Tx of `tx_of(session)`: that session
        if origin is not None and (session := origin()) is not None:
            return session
        opener = db.info.get(_OPEN_SESSION)
        if opener is None:
            raise RuntimeError("this transaction has no ORM session: open it with Database.job_transaction()")
        session = db.info[_SESSION] = opener()
    return session


@contextmanager
def session_scope(tx: Tx) -> Iterator[None]:
    """Ends a session that `session_of(tx)` opened inside the block: on success its writes are flushed and
    its savepoint released (they commit with the lean transaction); on error its savepoint is rolled back.
    Both before the block's own savepoint ends (SQLAlchemy's savepoint lies inside it)."""
    try:
        yield
    except BaseException:
        session: Session | None = tx.info.pop(_SESSION, None)
        if session is not None:
            session.close()
        raise
    session = tx.info.pop(_SESSION, None)
    if session is not None:
        try:
            session.commit()
        finally:
            session.close()


def tx_of(session: Session) -> Tx:
    """The lean interface inside an ORM session's transaction: pending ORM changes are flushed first, and
    the statements run on the session's own connection, so both see and commit the same changes."""
    session._autoflush()
    connection = session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    if _ORIGIN not in session.info:
        session.info[_ORIGIN] = weakref.ref(session)
    return Tx(
        dbapi_connection,
        sqlite=connection.dialect.name == "sqlite",
        info=session.info,
        after_commit=session.info.setdefault(_AFTER_COMMIT, []),
        cache=engine_cache(connection.engine),
    )


@event.listens_for(Session, "after_commit")
def _after_session_commit(session: Session) -> None:
    if session.info.get(_JOINED):
        return  # its callbacks are the lean transaction's, run when that commits
    session.info.pop(_SAVEPOINT_MARKS, None)
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_SAVEPOINT_MARKS, {})
        marks[transaction] = len(session.info.get(_AFTER_COMMIT, ()))


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back savepoint forgets only the work registered inside it (a job of a batch that failed
    must not cost the others their wakeups); the whole transaction rolled back forgets everything."""
    if not previous_transaction.nested:
        if session.info.get(_JOINED):
            return  # the lean transaction's savepoint forgets what was registered inside it
        session.info.pop(_SAVEPOINT_MARKS, None)
        session.info.pop(_AFTER_COMMIT, None)
        return
    mark = session.info.get(_SAVEPOINT_MARKS, {}).pop(previous_transaction, None)
    callbacks = session.info.get(_AFTER_COMMIT)
    if mark is not None and callbacks is not None:
        del callbacks[mark:]


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
