"""R7: scheduled pulls from departments' own databases (PostgreSQL, MySQL/MariaDB, SQLite) — registered
by the provider's data officer after a connection test and the schema lock (R9), then read in chunks with
server-side cursors into the same pipeline as an upload (checks, quarantine, history). An incremental pull
reads the rows past the last watermark and advances it only after its batch committed."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gongshu.aggregation import external_db
from gongshu.aggregation.decoding import RowNumbers, Source
from gongshu.aggregation.ingest import ingest_source
from gongshu.aggregation.pull_models import PULL_MODES, PULL_SCHEMES, PullSource
from gongshu.aggregation.readers import BATCH_ROWS, cell_text
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit.service import record
from gongshu.kernel.crypto.sm4 import decrypt_secret, encrypt_secret
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.store import service as store

log = logging.getLogger(__name__)
MAX_EVERY_MINUTES = 60 * 24 * 31
PAUSE_REASON_MAX = 500
"""R7 R9: the longest reason a pause of a pull source keeps in its audit entry, in characters (a pause is
an interruption of the updates the provider owes, so it may say why; longer is refused, never cut)."""
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _invalid(code: str, zh: str, en: str, field: str | None = None) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field)


# R7: the codes and messages of a department's database; the checks live in external_db.py.
WORDS = external_db.Wording(
    "pull",
    "pull source",
    {
        "url_platform": (
            "不能从平台自身的数据库拉取数据",
            "The platform's own database cannot be a pull source",
            "url",
        ),
        "url_data_dir": (
            "不能从平台数据目录中的文件拉取数据",
            "A file in the platform's data folder cannot be a pull source",
            "url",
        ),
        "sqlite_form": (
            "SQLite 数据源须写作 sqlite:////绝对路径/文件.db，不得使用 file: 形式或查询参数",
            "A SQLite source is written sqlite:////absolute/path/file.db, without file: URIs or parameters",
            "url",
        ),
        "sqlite_missing": ("SQLite 数据库文件不存在", "The SQLite database file does not exist", "url"),
        "connect_failed": (
            "无法连接部门数据库，请检查主机、端口和网络",
            "Could not connect to the department's database; check the host, port and network",
            "url",
        ),
        "auth_failed": (
            "部门数据库拒绝了该用户名或密码",
            "The department's database refused the user name or password",
            "url",
        ),
        "database_unknown": (
            "部门数据库服务器上没有该数据库",
            "The department's server has no such database",
            "url",
        ),
        "sqlite_invalid": (
            "该文件不是可读取的 SQLite 数据库",
            "The file is not a readable SQLite database",
            "url",
        ),
        "not_found": (
            "部门数据库中没有该表或列",
            "The table or a column does not exist in the department's database",
            "table_or_query",
        ),
        "permission_denied": (
            "部门数据库账号无权读取该表",
            "The department's database account may not read this table",
            "table_or_query",
        ),
        "query_failed": (
            "查询部门数据库失败，请检查表名或查询语句",
            "The query on the department's database failed; check the table name or query",
            "table_or_query",
        ),
    },
)
_same_server_database = external_db.same_server_database
platform_identity = external_db.platform_identity
_session_urls = external_db.session_urls
_without_password = external_db.without_password  # R7: the URL as stored and shown, without its password


def _parse_url(raw: str, platform_urls: Sequence[str] = ()) -> URL:
    """R7: a SQLAlchemy URL of an accepted scheme (postgresql, mysql+pymysql, sqlite), never the platform's
    own database (`platform_urls`, with the configured one) nor a file of its data folder. A SQLite
    source is stored as the real path of an existing file. `_same_server_database` is looked up at each
    call (it may be stood in for, to check the identity test after connecting)."""
    return external_db.parse_url(
        raw, WORDS, PULL_SCHEMES, platform_urls, same_server=lambda u, o: _same_server_database(u, o)
    )


def _engine(url: URL) -> Engine:
    """R7: a SQLite source is checked again and opened read-only (never created, never written)."""
    if url.drivername == "sqlite":
        own = external_db.platform_urls_with_configured(())
        return external_db.sqlite_engine(external_db.sqlite_source_path(url, own, WORDS), write=False)
    return external_db.server_engine(url)


def _from_clause(engine: Engine, table_or_query: str) -> str:
    """A table name (quoted) or a read-only SELECT (as a sub-query); nothing else."""
    t = table_or_query.strip()
    if _IDENT.match(t):
        q = engine.dialect.identifier_preparer.quote
        return ".".join(q(part) for part in t.split("."))
    if re.match(r"^(select|with)\s", t, re.I) and ";" not in t:
        return f"({t}) AS gongshu_src"
    raise _invalid(
        "pull.table_invalid",
        "请填写表名，或一条 SELECT 查询（不得含分号）",
        "Give a table name or one SELECT query (no semicolon)",
        "table_or_query",
    )


def _db_error(exc: BaseException, *, connecting: bool) -> ValidationFailed:
    """R7: a precise error of a department database that does not echo the driver's text."""
    return external_db.db_error(exc, WORDS, connecting=connecting)


def _connect(engine: Engine, identity: tuple[Any, ...] | None) -> Connection:
    """A connection to the source, refused when it reaches the platform's own database."""
    return external_db.connect(engine, WORDS, identity)


def _columns(engine: Engine, from_clause: str, identity: tuple[Any, ...] | None) -> list[str]:
    with _connect(engine, identity) as conn:
        try:
            result = conn.execute(text(f"SELECT * FROM {from_clause} WHERE 1 = 0"))
            cols = list(result.keys())
            result.close()
            return cols
        except (SQLAlchemyError, OSError) as exc:
            raise _db_error(exc, connecting=False) from exc


def _selected(items: list[dict[str, Any]], columns: list[str], watermark: str | None) -> list[str]:
    """R9 schema lock: the source's columns (less an extra watermark column) must be the published items;
    returns the source columns to read, the watermark last when it is not an item."""
    wanted = [c for c in columns if c != watermark or store_matches(items, c)]
    try:
        store.match_columns(items, wanted)
    except ValidationFailed as exc:
        raise ValidationFailed(
            "pull.schema_mismatch",
            "部门数据库的列与已发布目录的信息项不一致：" + exc.message_zh,
            "The department database's columns do not match the published items: " + exc.message_en,
            details=exc.details,
        ) from exc
    return wanted + ([watermark] if watermark and watermark not in wanted else [])


def store_matches(items: list[dict[str, Any]], column: str) -> bool:
    return any(column in (i["name"], i.get("label_zh")) for i in items)


def register_pull(
    session: Session,
    actor: Actor,
    code: str,
    url: str,
    table_or_query: str,
    mode: str,
    watermark_column: str | None,
    every_minutes: int,
    *,
    password: str | None = None,
) -> PullSource:
    """R7: the provider's data officer registers a database to pull from. Checked first: the scheme (never
    the platform's own database), the mode and watermark, the interval, a live connection, and the
    columns against the published items. `password`, when given, replaces the URL's."""
    res = store.get_resource(session, code)
    require(session, actor, Action.DATA_INGEST, org_id=store.provider_of(session, code))
    parsed = _parse_url(url, _session_urls(session))
    if password and parsed.drivername != "sqlite":
        parsed = parsed.set(password=password)
    if mode not in PULL_MODES:
        raise _invalid("pull.mode_invalid", "拉取方式应为全量或增量", "Mode is full or incremental", "mode")
    watermark = (watermark_column or "").strip() or None
    if mode == "incremental" and not (watermark and _IDENT.match(watermark)):
        raise _invalid(
            "pull.watermark_required",
            "增量拉取须指定水位列（如更新时间列）",
            "An incremental pull needs a watermark column (e.g. an update time)",
            "watermark_column",
        )
    _check_interval(every_minutes)
    engine = _engine(parsed)
    try:
        from_clause = _from_clause(engine, table_or_query)
        columns = _columns(engine, from_clause, platform_identity(session))
    finally:
        engine.dispose()
    if mode == "incremental" and watermark not in columns:
        raise _invalid(
            "pull.watermark_unknown",
            f"数据源中没有水位列 {watermark}",
            f"The source has no watermark column {watermark}",
            "watermark_column",
        )
    _selected(res.items, columns, watermark if mode == "incremental" else None)
    source = PullSource(
        resource_code=code,
        url=_without_password(parsed),
        password_enc=encrypt_secret(parsed.password) if parsed.password else None,
        table_or_query=table_or_query.strip(),
        mode=mode,
        watermark_column=watermark if mode == "incremental" else None,
        every_minutes=every_minutes,
        next_run_at=now(),
        registered_by_user_id=actor.user_id,
    )
    session.add(source)
    session.flush()
    record(
        session,
        actor,
        "aggregation.pull_registered",
        object_type="pull_source",
        object_id=source.id,
        detail={"resource": code, "url": source.url, "mode": mode, "every_minutes": every_minutes},
    )
    return source


def _check_interval(every_minutes: int) -> None:
    if not 1 <= every_minutes <= MAX_EVERY_MINUTES:
        raise _invalid(
            "pull.interval_invalid",
            f"拉取间隔应为 1 至 {MAX_EVERY_MINUTES} 分钟",
            f"The interval is 1 to {MAX_EVERY_MINUTES} minutes",
            "every_minutes",
        )


def managed(session: Session, actor: Actor, code: str, source_id: int) -> PullSource:
    """A resource's pull source, to one who may register its sources (the provider's data officer)."""
    store.get_resource(session, code)
    require(session, actor, Action.DATA_INGEST, org_id=store.provider_of(session, code))
    return _get(session, code, source_id)


def _pause_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) > PAUSE_REASON_MAX:
        raise ValidationFailed(
            "pull.reason_too_long",
            f"暂停原因不能超过 {PAUSE_REASON_MAX} 字（现为 {len(text)} 字）",
            f"The reason for the pause may be at most {PAUSE_REASON_MAX} characters (it has {len(text)})",
            field="reason",
            details={"max": PAUSE_REASON_MAX, "length": len(text)},
        )
    return text


def set_enabled(
    session: Session, actor: Actor, code: str, source_id: int, enabled: bool, *, reason: str | None = None
) -> PullSource:
    """R7: pause (the scheduled job skips it) or resume a pull source; audited. R9: a pause interrupts the
    updates, so it may carry a reason (optional, at most PAUSE_REASON_MAX characters), kept in the audit
    entry's detail."""
    ps = managed(session, actor, code, source_id)
    text = _pause_reason(reason) if not enabled else ""
    if ps.enabled != enabled:
        ps.enabled = enabled
        if enabled and (ps.next_run_at is None or _aware(ps.next_run_at) < now()):
            ps.next_run_at = now()
        session.flush()
        record(
            session,
            actor,
            "aggregation.pull_resumed" if enabled else "aggregation.pull_paused",
            object_type="pull_source",
            object_id=ps.id,
            detail={"resource": code, "url": ps.url, **({"reason": text} if text else {})},
        )
    return ps


def reschedule_pull(
    session: Session, actor: Actor, code: str, source_id: int, every_minutes: int
) -> PullSource:
    """R7: change a pull source's interval; its next run is no later than one new interval from now."""
    ps = managed(session, actor, code, source_id)
    _check_interval(every_minutes)
    before = ps.every_minutes
    ps.every_minutes = every_minutes
    soonest = now() + dt.timedelta(minutes=every_minutes)
    if ps.next_run_at is None or _aware(ps.next_run_at) > soonest:
        ps.next_run_at = soonest
    session.flush()
    record(
        session,
        actor,
        "aggregation.pull_rescheduled",
        object_type="pull_source",
        object_id=ps.id,
        detail={"resource": code, "every_minutes": every_minutes, "before": before},
    )
    return ps


def delete_pull(session: Session, actor: Actor, code: str, source_id: int) -> None:
    """R7: remove a pull source (its password with it); the batches it loaded stay. Audited."""
    ps = managed(session, actor, code, source_id)
    detail = {"resource": code, "url": ps.url, "table_or_query": ps.table_or_query[:200]}
    session.execute(delete(PullSource).where(PullSource.id == ps.id))
    record(
        session,
        actor,
        "aggregation.pull_deleted",
        object_type="pull_source",
        object_id=source_id,
        detail=detail,
    )


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _source_url(ps: PullSource) -> URL:
    url = make_url(ps.url)
    return url.set(password=decrypt_secret(ps.password_enc)) if ps.password_enc else url


def _get(s: Session, code: str, source_id: int | None) -> PullSource:
    stmt = select(PullSource).where(PullSource.resource_code == code).order_by(PullSource.id)
    if source_id is not None:
        stmt = stmt.where(PullSource.id == source_id)
    ps = s.scalars(stmt).first()
    if ps is None:
        raise NotFound(
            "pull.source_unknown", f"资源 {code} 没有该拉取源", f"Resource {code} has no such pull source"
        )
    return ps


def _open(
    ps: PullSource, items: list[dict[str, Any]], identity: tuple[Any, ...] | None, platform_urls: list[str]
) -> tuple[Source | None, dict[str, Any], Any]:
    """Open the source's rows (past the watermark, in order, when incremental) with a server-side cursor;
    None when there is nothing new. Returns (source, state holding the highest watermark read, closer).
    The URL is checked again (a SQLite file may have become a link to the platform's database)."""
    engine = _engine(_parse_url(_source_url(ps).render_as_string(hide_password=False), platform_urls))
    conn = None
    try:
        from_clause = _from_clause(engine, ps.table_or_query)
        cols = _selected(items, _columns(engine, from_clause, identity), ps.watermark_column)
        q = engine.dialect.identifier_preparer.quote
        sql = f"SELECT {', '.join(q(c) for c in cols)} FROM {from_clause}"
        params: dict[str, Any] = {}
        if ps.watermark_column:
            wm = q(ps.watermark_column)
            if ps.last_watermark is not None:
                sql += f" WHERE {wm} > :last"
                params["last"] = ps.last_watermark
            sql += f" ORDER BY {wm}"
        conn = _connect(engine, identity).execution_options(yield_per=BATCH_ROWS)
        try:
            result = conn.execute(text(sql), params)
            first = result.fetchmany(BATCH_ROWS)
        except (SQLAlchemyError, OSError) as exc:
            raise _db_error(exc, connecting=False) from exc
    except GongshuError:
        if conn is not None:
            conn.close()
        engine.dispose()
        raise

    def close() -> None:
        conn.close()
        engine.dispose()

    state: dict[str, Any] = {"max": None}
    if not first:
        close()
        return None, state, close
    wm_index = cols.index(ps.watermark_column) if ps.watermark_column else None
    names = [
        c for c in cols if ps.watermark_column is None or c != ps.watermark_column or store_matches(items, c)
    ]

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        rows, n = first, 1
        try:
            while rows:
                if wm_index is not None:
                    top = max((r[wm_index] for r in rows if r[wm_index] is not None), default=None)
                    if top is not None and (state["max"] is None or top > state["max"]):
                        state["max"] = top
                arrays = [pa.array([cell_text(r[i]) for r in rows], pa.string()) for i in range(len(names))]
                yield (
                    pa.RecordBatch.from_arrays(arrays, names=names),
                    np.arange(n, n + len(rows), dtype=np.int64),
                )
                n += len(rows)
                rows = result.fetchmany(BATCH_ROWS)
        finally:
            close()

    return Source(names, "", "pull", chunks()), state, close


def _run_error(exc: Exception) -> GongshuError:
    """The error a failed run keeps: ours as raised, a database's as its precise kind (pull.query_failed…),
    anything else as pull.failed — never with the driver's text, which is logged."""
    if isinstance(exc, GongshuError):
        return exc
    if isinstance(exc, SQLAlchemyError | OSError):
        return _db_error(exc, connecting=False)
    log.exception("pull failed")
    return GongshuError(
        "pull.failed",
        f"拉取失败，数据未作任何改变（{type(exc).__name__}）",
        f"The pull failed; no data was changed ({type(exc).__name__})",
        status_code=500,
    )


def _watermark_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _finish(ps_id: int, actor: Actor, status: str, *, url: str | None, **values: Any) -> None:
    with session_scope(url) as s:
        ps = s.get(PullSource, ps_id)
        assert ps is not None
        ps.last_status, ps.last_run_at = status, now()
        for k, v in values.items():
            setattr(ps, k, v)
        record(
            s,
            actor,
            "aggregation.pull_run",
            object_type="pull_source",
            object_id=ps_id,
            outcome="ok" if status != "failed" else "error",
            detail={"resource": ps.resource_code, "status": status, "batch": ps.last_batch_id},
        )


def run_pull(
    actor: Actor, code: str, source_id: int | None = None, *, url: str | None = None
) -> dict[str, Any]:
    """R7: run one pull now; returns the batch report (or `{"status": "no_changes"}`). A failure is kept
    on the source (status, time, error) and raised; the watermark moves only after a committed batch."""
    with read_scope(url) as s:
        ps = _get(s, code, source_id)
        require(s, actor, Action.DATA_INGEST, org_id=store.provider_of(s, code))
        items = store.get_resource(s, code).items
        identity = platform_identity(s)
        platform_urls = _session_urls(s)
        s.expunge(ps)
    next_run = now() + dt.timedelta(minutes=ps.every_minutes)
    try:
        src, state, _ = _open(ps, items, identity, platform_urls)
        if src is None:
            _finish(ps.id, actor, "no_changes", url=url, last_error=None, next_run_at=next_run)
            return {"status": "no_changes", "resource_code": code, "pull_source_id": ps.id}
        report = ingest_source(
            actor, code, src, mode=ps.mode, source="pull", filename=f"pull:{ps.id}", url=url
        )
    except Exception as exc:
        error = _run_error(exc)
        _finish(ps.id, actor, "failed", url=url, last_error=error.to_dict(), next_run_at=next_run)
        raise error from exc
    values: dict[str, Any] = {
        "last_error": report.get("error"),
        "last_batch_id": report["id"],
        "next_run_at": next_run,
    }
    if report["status"] == "committed" and state["max"] is not None:
        values["last_watermark"] = _watermark_text(state["max"])[:120]
    _finish(ps.id, actor, report["status"], url=url, **values)
    return report


def claim_due(url: str | None = None) -> list[tuple[int, str, int | None]]:
    """R7: the enabled pulls whose next run is due, each claimed (its next run moved on) so that it runs
    once per slot; returns (id, resource code, registering user)."""
    claimed: list[tuple[int, str, int | None]] = []
    at = now()
    with session_scope(url) as s:
        stmt = select(PullSource).where(PullSource.enabled.is_(True), PullSource.next_run_at <= at)
        for ps in s.scalars(stmt).all():
            moved = s.execute(
                update(PullSource)
                .where(PullSource.id == ps.id, PullSource.next_run_at == ps.next_run_at)
                .values(next_run_at=at + dt.timedelta(minutes=ps.every_minutes))
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append((ps.id, ps.resource_code, ps.registered_by_user_id))
    return claimed


def run_due_pulls(url: str | None = None) -> dict[int, str]:
    """R7: run every due pull as the data officer who registered it; returns id → outcome."""
    out: dict[int, str] = {}
    for ps_id, code, user_id in claim_due(url):
        try:
            with read_scope(url) as s:
                actor = identity.build_actor(s, identity.get_user(s, user_id or 0))
            out[ps_id] = str(run_pull(actor, code, ps_id, url=url)["status"])
        except GongshuError as exc:
            log.warning("pull %s of %s failed: %s", ps_id, code, exc.code)
            out[ps_id] = exc.code
    return out


def pulls_of(session: Session, code: str) -> list[PullSource]:
    """R7: a resource's pull sources (their URLs carry no password)."""
    stmt = select(PullSource).where(PullSource.resource_code == code).order_by(PullSource.id)
    return list(session.scalars(stmt))
