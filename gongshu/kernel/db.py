"""Database engine, session and the declarative base shared by every domain's models.

SQLite (WAL) is the embedded default; PostgreSQL (psycopg 3) is production. Both are tested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gongshu.kernel.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC instant on every backend (SQLite keeps no zone: we store UTC, read back aware)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


_engines: dict[str, Engine] = {}
_factories: dict[tuple[str, bool], sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map (the OS page cache, shared by every connection) instead of copying
    # each page into the connection's 2 MB page cache: what catalog search's primary-key lookups of
    # thousands of matches spend most on (R6).
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers queue on the database lock at BEGIN instead of failing on upgrade from a read lock;
            # read-only sessions (read_scope) begin deferred so readers never wait for each other.
            if conn.get_execution_options().get("gongshu_readonly"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own BEGIN handling must step aside for the line above to take effect.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().resolved_database_url()
    if url not in _engines:
        if url.startswith("sqlite:///"):
            get_settings().ensure_data_dir()
        _engines[url] = make_engine(url)
    return _engines[url]


def session_factory(url: str | None = None, *, readonly: bool = False) -> sessionmaker[Session]:
    url = url or get_settings().resolved_database_url()
    key = (url, readonly)
    if key not in _factories:
        engine = get_engine(url)
        bind = engine.execution_options(gongshu_readonly=True) if readonly else engine
        _factories[key] = sessionmaker(bind=bind, expire_on_commit=False)
    return _factories[key]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (a failure half-way leaves nothing)."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(url: str | None = None) -> Iterator[Session]:
    """A read-only unit of work (no commit). Audit entries for reads are written in their own scope."""
    session = session_factory(url, readonly=True)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def core_connection(session: Session) -> Connection:
    """The session's connection in its transaction, for a Core statement made once and executed many times
    (no ORM work per call: the data requests' hot reads, R19); pending changes are flushed first, as the
    session's own `execute` would."""
    if session.autoflush:
        session.flush()
    return session.connection()


@contextmanager
def sqlite_write_turn(url: str) -> Iterator[None]:
    """Wait for this process's turn to write to the SQLite database at `url` behind an advisory file lock
    (`<database>.write-lock`), held until the caller's transaction is over. SQLite's own busy handler
    polls a locked database with growing sleeps (up to 100 ms each), so writers of several processes
    hitting the lock together waited far longer than the lock was held; a blocked `flock` wakes as soon as
    the lock is free. Writers that do not take the turn stay correct: they still meet SQLite's lock. A
    no-op for other databases and for in-memory SQLite."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        yield
        return
    import fcntl

    with open(url[len("sqlite:///") :] + ".write-lock", "a+b") as lock:  # one open file: its own lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
