"""R7 R19: the checks shared by every external database the platform connects to — a department's database
it pulls from (R7, read) and a consumer's database it delivers a table into (R19, written).

Such a URL is never the platform's own database, however it is spelled (SQLite `file:` URIs, query
parameters, relative paths, `..`, symbolic and hard links, aliases of the same server), nor a file of the
platform's data folder (keys, attachments); a server connection is checked again, after connecting, by the
identity its server gives, and a SQLite connection by the file it opened. A SQLite file is accepted only
inside the folders configured for external databases (`external_sqlite_dirs`, by default
`<data folder>-external`): deny by default, checked before the file is looked at, so that a URL cannot
probe the server's files. A driver's failure becomes a stable code with a Chinese and an English message:
its text (which names internal hosts and ports) is only logged. Each caller brings its own codes and
messages (`Wording`)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import GongshuError, ValidationFailed

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5  # seconds: an unreachable server fails fast


# The refusals of a URL's form, worded alike for every caller (a caller's `texts` may still reword them).
COMMON_TEXTS: Mapping[str, tuple[str, str, str]] = {
    "url_invalid": ("数据库连接地址格式错误", "Malformed database URL", "url"),
    "url_scheme": (
        "不支持的数据库类型 {scheme}（支持 postgresql、mysql+pymysql、sqlite）",
        "Unsupported database scheme {scheme} (postgresql, mysql+pymysql, sqlite)",
        "url",
    ),
    "url_query": (
        "连接地址须写明主机，且不得带有 {names_zh} 等参数",
        "The URL must name its host and may not carry the parameters {names_en}",
        "url",
    ),
    "sqlite_outside_dirs": (
        "SQLite 数据库文件须位于平台为外部数据库指定的文件夹内：{dirs_zh}",
        "A SQLite database file must lie inside a folder set aside for external databases: {dirs_en}",
        "url",
    ),
}


@dataclasses.dataclass(frozen=True)
class Wording:
    """One caller's codes and messages: `texts` maps a kind of refusal (url_platform, connect_failed…)
    to its Chinese and English messages (`str.format` fields allowed) and form field, over
    `COMMON_TEXTS`; the code is `prefix.kind`, or `prefix.codes[kind]` when renamed."""

    prefix: str
    log_label: str
    texts: Mapping[str, tuple[str, str, str]]
    codes: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def code(self, kind: str) -> str:
        return f"{self.prefix}.{self.codes.get(kind, kind)}"

    def error(self, kind: str, details: dict[str, Any] | None = None, **fields: str) -> ValidationFailed:
        zh, en, field = self.texts[kind] if kind in self.texts else COMMON_TEXTS[kind]
        return ValidationFailed(
            self.code(kind), zh.format(**fields), en.format(**fields), field=field, details=details
        )


# Query parameters a server URL may carry; any other (host=, dbname=, unix_socket=, service=, options=…)
# could point the connection elsewhere than the URL shows, and is refused.
_SAFE_QUERY = {
    "postgresql": {"sslmode", "application_name"},
    "postgresql+psycopg": {"sslmode", "application_name"},
    "mysql+pymysql": {"charset"},
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
SameServer = Callable[[URL, URL], bool]


def parse_url(
    raw: str,
    words: Wording,
    schemes: Sequence[str],
    platform_urls: Sequence[str] = (),
    *,
    target: bool = False,
    same_server: SameServer | None = None,
) -> URL:
    """A SQLAlchemy URL of an accepted scheme, never the platform's own database (`platform_urls`, with the
    configured one) nor a file of its data folder. A SQLite database is returned as the real path of its
    file, inside the folders of external databases: an existing file for a source (read), an existing file
    or a new one in an existing folder for a `target` (written; see `sqlite_target_path`). `same_server` stands in for `same_server_database`."""
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError) as exc:
        raise words.error("url_invalid") from exc
    if url.drivername not in schemes:
        raise words.error("url_scheme", scheme=url.drivername)
    own = platform_urls_with_configured(platform_urls)
    if url.drivername == "sqlite":
        path = sqlite_target_path(url, own, words) if target else sqlite_source_path(url, own, words)
        return URL.create("sqlite", database=str(path))
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    unsafe = sorted(set(url.query) - _SAFE_QUERY[url.drivername])
    if unsafe or not url.host or url.host.startswith("/"):
        names = unsafe or ["host"]
        raise words.error("url_query", names_zh="、".join(names), names_en=", ".join(names))
    same = same_server or same_server_database
    if any(same(url, make_url(o)) for o in own):
        raise words.error("url_platform")
    return url


def platform_urls_with_configured(extra: Sequence[str]) -> list[str]:
    return [get_settings().resolved_database_url(), *extra]


def session_urls(session: Session) -> list[str]:
    """The URL of the database a session works on (the platform's, when not the configured one)."""
    return [session.get_bind().engine.url.render_as_string(hide_password=False)]


def without_password(url: URL) -> str:
    """The URL as stored and shown — its password is kept apart, encrypted."""
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string(hide_password=False)


def shown_url(raw: str) -> str:
    """A URL as typed, less its password (shown back in a form)."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", raw)
    return raw if url.password is None else without_password(url)


# ---- SQLite files -----------------------------------------------------------------------------------


def sqlite_file_of(url: URL) -> str | None:
    """The file a SQLite URL names, `file:` URIs and their query included (for the platform's own URL)."""
    database = url.database or ""
    if database.lower().startswith("file:"):
        database = unquote(urlsplit(database).path)
    return database if database and database != ":memory:" else None


def real(path: str) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _plain_sqlite(url: URL, words: Wording) -> Path:
    """The real path (symlinks, `..` and relative paths resolved) of a SQLite URL given as a plain path —
    no `file:` URI, no query parameters, no host or user."""
    database = url.database or ""
    if (
        url.query
        or database.lower().startswith("file:")
        or database in ("", ":memory:")
        or "\x00" in database
        or url.host
        or url.username
        or url.password
        or url.port
    ):
        raise words.error("sqlite_form")
    return real(database)


def _platform_files(own: Sequence[str]) -> list[Path]:
    files = []
    for o in own:
        ou = make_url(o)
        file = sqlite_file_of(ou) if ou.get_backend_name() == "sqlite" else None
        if file:
            files.append(real(file))
    return files


def _refuse_platform_file(path: Path, own: Sequence[str], words: Wording, *, target: bool) -> None:
    """Refuses the platform's database file (by path, or by inode: a hard link) and the data folder; for a
    target, also the platform database's companion files (`-wal`, `-shm`, `-journal`)."""
    for file in _platform_files(own):
        if file == path or same_inode(path, file):
            raise words.error("url_platform")
        if target and path.parent == file.parent and path.name.startswith(file.name):
            raise words.error("url_platform")
    data_dir = real(str(get_settings().data_dir))
    if path == data_dir or data_dir in path.parents:
        raise words.error("url_data_dir")


def external_sqlite_dirs() -> list[Path]:
    """R7 R19: the folders in which SQLite files outside the platform may be read or written, as configured
    (`Settings.external_sqlite_dirs`; by default `<data folder>-external`)."""
    return get_settings().resolved_external_sqlite_dirs()


def _refuse_outside_dirs(path: Path, words: Wording) -> None:
    """R7 R19 R26 security, deny by default: a SQLite file (a real path: symbolic links, `..` and relative
    paths resolved) lies inside one of the folders of external databases, each compared by its own real
    path; the folder itself is no file. Checked before anything else looks at the file, so that a path
    outside the folders gets the same refusal whether or not it exists (a pull source or delivery target
    form does not tell which files the server holds). The message names only the configured folders; with
    none configured, no SQLite file is accepted."""
    folders = external_sqlite_dirs()
    if any(real(str(folder)) in path.parents for folder in folders):
        return
    shown = [str(folder) for folder in folders]
    raise words.error(
        "sqlite_outside_dirs",
        dirs_zh="、".join(shown) if shown else "无（本平台不接受 SQLite 数据库文件）",
        dirs_en=", ".join(shown) if shown else "none (this platform accepts no SQLite database file)",
    )


def sqlite_source_path(url: URL, own: Sequence[str], words: Wording) -> Path:
    """R7: the real path of a SQLite source (read): an existing regular file inside the folders of external
    databases (R26: checked first, see `_refuse_outside_dirs`), neither the platform's database nor inside
    its data folder."""
    path = _plain_sqlite(url, words)
    _refuse_outside_dirs(path, words)
    if not path.is_file():
        raise words.error("sqlite_missing")
    _refuse_platform_file(path, own, words, target=False)
    return path


def sqlite_target_path(url: URL, own: Sequence[str], words: Wording) -> Path:
    """R19: the real path of a SQLite target (written), inside the folders of external databases (R26:
    checked first, see `_refuse_outside_dirs` — never any folder of the server the platform may write to).
    A target may be a file still to be created — the platform creates it at the first sync — but only in a
    folder that exists, can be written, and lies outside the data folder; an existing target is a regular file with no other name (a hard link could
    make a file of the data folder writable from outside). Never the platform's database nor its
    companion files (`-wal`, `-shm`, `-journal`)."""
    path = _plain_sqlite(url, words)
    _refuse_outside_dirs(path, words)
    _refuse_platform_file(path, own, words, target=True)
    if path.exists():
        if not path.is_file():
            raise words.error("sqlite_invalid")
        if path.stat().st_nlink > 1:
            raise words.error("sqlite_links")
    elif not (path.parent.is_dir() and os.access(path.parent, os.W_OK | os.X_OK)):
        raise words.error("sqlite_folder")
    return path


def same_inode(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def sqlite_engine(path: Path, *, write: bool) -> Engine:
    """A SQLite database opened through a URI built here, no other database attached: read-only (never
    created, never written) for a source; read-write, created when missing, for a target."""
    uri = "file:" + quote(str(path)) + ("?mode=rwc" if write else "?mode=ro")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        return conn

    return create_engine("sqlite://", poolclass=NullPool, creator=connect)


def server_engine(url: URL) -> Engine:
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})


# ---- servers ----------------------------------------------------------------------------------------


def _port(url: URL) -> int:
    return url.port or _DEFAULT_PORTS.get(url.get_backend_name(), 0)


def _addresses(host: str | None) -> set[str]:
    """A host's addresses, every loopback address (and a local socket) written "local"."""
    if not host or host.startswith("/") or host.lower() == "localhost":
        return {"local"}
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        found = {host.lower()}
    out: set[str] = set()
    for a in found:
        try:
            out.add("local" if ipaddress.ip_address(a.split("%")[0]).is_loopback else a)
        except ValueError:
            out.add(a)
    return out


def same_server_database(url: URL, own: URL) -> bool:
    """Whether a server URL names the platform's own database (same kind, host, port and database)."""
    if url.get_backend_name() != own.get_backend_name() or _port(url) != _port(own):
        return False
    name = url.database or url.username or ""
    own_name = own.database or own.username or ""
    if name != own_name:
        return False
    return bool(_addresses(url.host) & _addresses(own.host))


def server_identity(conn: Connection) -> tuple[Any, ...] | None:
    """The database a connection reached, as its server tells it (None for SQLite, checked by its file)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        row = conn.execute(text("SELECT current_database(), pg_postmaster_start_time()")).one()
    elif dialect in ("mysql", "mariadb"):
        row = conn.execute(text("SELECT DATABASE(), @@hostname, @@port")).one()
    else:
        return None
    return (dialect, *row)


def platform_identity(session: Session) -> tuple[Any, ...] | None:
    """The platform database's own identity, to refuse a database that reaches it by another name."""
    return server_identity(session.connection())


def _sqlite_opened(conn: Connection) -> Path | None:
    for row in conn.execute(text("PRAGMA database_list")).all():
        if row[1] == "main" and row[2]:
            return real(str(row[2]))
    return None


def connect(
    engine: Engine,
    words: Wording,
    identity: tuple[Any, ...] | None,
    platform_urls: Sequence[str] = (),
    *,
    target: bool = False,
) -> Connection:
    """A connection refused when it reached the platform's own database: a server's by the identity it
    gives (`identity`, the platform's), a SQLite one by the file it opened (checked as when parsed: inside
    the folders of external databases, not the platform's database nor in its data folder)."""
    try:
        conn = engine.connect()
    except (SQLAlchemyError, NoSuchModuleError, OSError) as exc:
        raise db_error(exc, words, connecting=True) from exc
    try:
        if conn.dialect.name == "sqlite":
            opened = _sqlite_opened(conn)
            if opened is not None:
                _refuse_outside_dirs(opened, words)
                own = platform_urls_with_configured(platform_urls)
                _refuse_platform_file(opened, own, words, target=target)
        elif identity is not None and server_identity(conn) == identity:
            raise words.error("url_platform")
        if conn.in_transaction():
            conn.rollback()  # the checks' reads end here: the caller begins its own transaction
    except GongshuError:
        conn.close()
        raise
    except (SQLAlchemyError, OSError) as exc:
        conn.close()
        raise db_error(exc, words, connecting=True) from exc
    return conn


# ---- driver errors ----------------------------------------------------------------------------------

# SQLSTATEs (PostgreSQL), error numbers (MySQL/MariaDB) and SQLite error names of the failures told apart;
# the driver's text is never shown (it names internal hosts and ports), only logged.
_AUTH = {"28P01", "28000", 1045, 1044, 1698}
_NO_DATABASE = {"3D000", 1049}
_NOT_FOUND = {"42P01", "42703", "3F000", 1146, 1054}
_DENIED = {"42501", 1142, 1143, "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"}

# psycopg gives no SQLSTATE for a refused connection: libpq's (English) message tells the kind.
_LIBPQ = (
    (re.compile(r'FATAL:\s+database ".*" does not exist'), "3D000"),
    (re.compile(r"FATAL:\s+(password authentication failed|role \".*\" does not exist)"), "28P01"),
    (re.compile(r"FATAL:\s+no pg_hba\.conf entry"), "28000"),
)


def _error_key(exc: BaseException) -> str | int | None:
    """The SQLSTATE (psycopg), error number (PyMySQL) or SQLite error name of a driver's exception."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    if state:
        return str(state)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    message = str(orig) if type(orig).__module__.startswith("psycopg") else ""
    for pattern, state in _LIBPQ:
        if pattern.search(message):
            return state
    return None


def db_error(exc: BaseException, words: Wording, *, connecting: bool) -> ValidationFailed:
    """A precise error of an external database that does not echo the driver's text: connect_failed,
    auth_failed, database_unknown, sqlite_invalid, not_found, permission_denied or query_failed."""
    key = _error_key(exc)
    orig = getattr(exc, "orig", None) or exc
    if key in _AUTH:
        kind = "auth_failed"
    elif key in _NO_DATABASE:
        kind = "database_unknown"
    elif key in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        kind = "sqlite_invalid"
    elif connecting or key == "SQLITE_CANTOPEN" or isinstance(exc, OSError):
        kind = "connect_failed"
    elif key in _NOT_FOUND or (
        isinstance(orig, sqlite3.OperationalError)
        and str(orig).startswith(("no such table", "no such column"))
    ):
        kind = "not_found"
    elif key in _DENIED:
        kind = "permission_denied"
    elif isinstance(exc, OperationalError | InterfaceError) and isinstance(key, int) and 2000 <= key < 2100:
        kind = "connect_failed"  # MySQL client errors: the server went away, could not be reached
    else:
        kind = "query_failed"
    log.warning("%s: %s (%s): %s", words.log_label, words.code(kind), type(orig).__name__, orig)
    return words.error(kind, details={"error": str(key)} if key else None)
