"""R19 (database table): the platform fills a table in the consumer's own database with the granted items
and rows of a resource, then keeps it in sync from the store's change feed. Every sync asks the access
decision point again (R26: a revoked or expired grant stops the delivery), is audited as a read with the
subject keys written, and gets a sealed receipt."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, inspect, select, update
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from gongshu.aggregation import external_db
from gongshu.catalog.data_view import subject_key_items
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import MESSAGES, DataDecision
from gongshu.kernel.audit.service import record
from gongshu.kernel.crypto.sm4 import decrypt_secret, encrypt_secret
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.sharing import delivery_rows as rowsmod
from gongshu.sharing.delivery_models import TARGET_SCHEMES, DbTarget
from gongshu.sharing.reads import audit_read
from gongshu.sharing.receipts import issue_receipt
from gongshu.store import service as store

log = logging.getLogger(__name__)
CHUNK = 2000
SYNC_EVERY = dt.timedelta(minutes=1)
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclasses.dataclass
class SyncReport:
    """What one sync did: `synced` (full or incremental), `stopped` (refused) or `failed`."""

    target_id: int
    status: str
    reason: str = ""
    full: bool = False
    from_change: int = 0
    to_change: int = 0
    upserted: int = 0
    deleted: int = 0
    rows_sm3: str = ""
    receipt: dict[str, Any] | None = None


def _invalid(code: str, zh: str, en: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field)


# R19: the codes and messages of a consumer's database; the checks live in aggregation/external_db.py.
WORDS = external_db.Wording(
    "delivery",
    "delivery target",
    {
        "url_platform": (
            "不能把平台自身的数据库作为交付目标",
            "The platform's own database cannot be a delivery target",
            "url",
        ),
        "url_data_dir": (
            "不能把平台数据目录中的文件作为交付目标",
            "A file in the platform's data folder cannot be a delivery target",
            "url",
        ),
        "sqlite_form": (
            "SQLite 交付目标须写作 sqlite:////绝对路径/文件.db，不得使用 file: 形式或查询参数",
            "A SQLite target is written sqlite:////absolute/path/file.db, without file: URIs or parameters",
            "url",
        ),
        "sqlite_folder": (
            "SQLite 交付目标所在的文件夹不存在或不可写入",
            "The folder of the SQLite target does not exist or cannot be written",
            "url",
        ),
        "sqlite_links": (
            "该 SQLite 文件还有其他文件名（硬链接），不能作为交付目标",
            "The SQLite file has other names (hard links) and cannot be a delivery target",
            "url",
        ),
        "connect_failed": (
            "无法连接接收单位的数据库，请检查主机、端口和网络",
            "Could not connect to the consumer's database; check the host, port and network",
            "url",
        ),
        "auth_failed": (
            "接收单位的数据库拒绝了该用户名或密码",
            "The consumer's database refused the user name or password",
            "url",
        ),
        "database_unknown": (
            "接收单位的数据库服务器上没有该数据库",
            "The consumer's server has no such database",
            "url",
        ),
        "sqlite_invalid": (
            "该文件不是可写入的 SQLite 数据库",
            "The file is not a writable SQLite database",
            "url",
        ),
        "not_found": (
            "接收单位数据库中的目标表或其列已不存在",
            "The target table or one of its columns no longer exists in the consumer's database",
            "table",
        ),
        "permission_denied": (
            "接收单位的数据库账号无权创建或写入该表",
            "The consumer's database account may not create or write the table",
            "table",
        ),
        "query_failed": (
            "写入接收单位的数据库失败",
            "Writing to the consumer's database failed",
            "table",
        ),
    },
    codes={"query_failed": "write_failed"},
)


def parse_url(raw: str, platform_urls: Sequence[str] = ()) -> URL:
    """R19: a consumer database URL of an accepted scheme (postgresql, mysql+pymysql, sqlite) — never the
    platform's own database in any spelling (`platform_urls`, with the configured one: `file:` URIs,
    parameters, relative paths, `..`, links, aliases of its server) nor a file of its data folder.

    A target is written to, unlike a pull source: a SQLite target may be a file still to be created (the
    platform creates it at the first sync, never at registration), but only in a folder that exists, can
    be written and lies outside the data folder; an existing one must be a regular file with no other
    name (no hard link), and never the platform database's `-wal`, `-shm` or `-journal` file. It is kept
    as the real path of the file."""
    return external_db.parse_url(raw, WORDS, TARGET_SCHEMES, platform_urls, target=True)


def _engine(url: URL) -> Engine:
    """A SQLite target opened read-write through a URI built here (no database attached); a server with a
    short connection timeout."""
    if url.drivername == "sqlite":
        return external_db.sqlite_engine(Path(str(url.database)), write=True)
    return external_db.server_engine(url)


def _target_url(target: DbTarget) -> URL:
    url = make_url(target.url)
    return url.set(password=decrypt_secret(target.password_enc)) if target.password_enc else url


def _checked_engine(target: DbTarget, platform_urls: Sequence[str]) -> Engine:
    """R19: a target's URL is checked again at every sync (a SQLite file may have become a link to the
    platform's database, the platform may have moved to the target's server)."""
    return _engine(parse_url(_target_url(target).render_as_string(hide_password=False), platform_urls))


def _connect(engine: Engine, identity: tuple[Any, ...] | None, platform_urls: Sequence[str]) -> Connection:
    """A connection to the target, refused when it reached the platform's own database (by the identity
    its server gives, or the SQLite file it opened)."""
    return external_db.connect(engine, WORDS, identity, platform_urls, target=True)


def _failure(exc: Exception) -> GongshuError:
    """The error a failed sync keeps: ours as raised, a database's as its precise kind, anything else as
    delivery.sync_failed — never with the driver's text, which is logged."""
    if isinstance(exc, GongshuError):
        return exc
    if isinstance(exc, SQLAlchemyError | NoSuchModuleError | OSError):
        return external_db.db_error(exc, WORDS, connecting=False)
    log.exception("delivery sync failed")
    return GongshuError(
        "delivery.sync_failed",
        f"同步失败，接收单位的表未作改变（{type(exc).__name__}）",
        f"The sync failed; the consumer's table was not changed ({type(exc).__name__})",
        status_code=500,
    )


def _grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
    return grant


def register_target(
    session: Session,
    actor: Actor,
    grant_id: int,
    url: str,
    table: str,
    *,
    password: str | None = None,
) -> DbTarget:
    """R19: a data officer of the grant's consumer registers its database table for a db_table grant.
    Checked first: the role, the method, the grant (decided now), the URL (never the platform's own
    database nor its data folder, see `parse_url`), the table name, a live connection (refused when it
    reaches the platform's database) and that the table does not exist yet (the platform creates and owns
    it). A SQLite file still to be created is not created here. `password`, when given, replaces the
    URL's. A failure is a stable code without the driver's text (a form error, 422)."""
    grant = _grant(session, grant_id)
    if not actor.has_role("data_officer", grant.consumer_org_id):
        raise Forbidden(
            "delivery.not_consumer",
            "只有授权接收单位的数据管理员可以登记交付目标",
            "Only a data officer of the grant's consumer may register a delivery target",
        )
    if grant.delivery_method != "db_table":
        raise _invalid(
            "delivery.method_not_db_table",
            "该授权的共享方式不是数据库表",
            "The grant's delivery method is not a database table",
            "grant_id",
        )
    decision = rowsmod.decide_for_grant(session, actor, grant)
    if not decision.allowed:
        zh, en = MESSAGES.get(decision.reason, MESSAGES["access.no_rule"])
        raise Forbidden(decision.reason, zh, en)
    platform_urls = external_db.session_urls(session)
    parsed = parse_url(url, platform_urls)
    if password and parsed.drivername != "sqlite":
        parsed = parsed.set(password=password)
    name = table.strip()
    if not _TABLE.match(name):
        raise _invalid(
            "delivery.table_invalid",
            "目标表名只能由字母、数字和下划线组成，且以字母或下划线开头（不超过 63 个字符）",
            "The target table name is letters, digits and underscores, not starting with a digit (≤ 63)",
            "table",
        )
    if parsed.drivername == "sqlite" and not Path(str(parsed.database)).exists():
        exists = False  # created at the first sync, in the folder checked by parse_url
    else:
        exists = _has_table(parsed, name, external_db.platform_identity(session), platform_urls)
    if exists:
        raise Conflict(
            "delivery.table_exists",
            f"接收单位数据库中已有表 {name}，请另取一个表名（该表由平台创建和维护）",
            f"The consumer's database already has a table {name}; choose another (the platform creates it)",
        )
    target = DbTarget(
        grant_id=grant.id,
        consumer_org_id=grant.consumer_org_id,
        resource_code=grant.resource_id,
        url=external_db.without_password(parsed),
        password_enc=encrypt_secret(parsed.password) if parsed.password else None,
        table_name=name,
        next_sync_at=now(),
        registered_by_user_id=actor.user_id,
    )
    session.add(target)
    session.flush()
    record(
        session,
        actor,
        "delivery.db_target_registered",
        object_type="db_target",
        object_id=target.id,
        grant_id=grant.id,
        scenario=grant.scenario,
        detail={"resource": grant.resource_id, "url": target.url, "table": name},
    )
    return target


def _has_table(
    parsed: URL, name: str, identity: tuple[Any, ...] | None, platform_urls: Sequence[str]
) -> bool:
    engine = _engine(parsed)
    try:
        with _connect(engine, identity, platform_urls) as conn:
            try:
                return bool(inspect(conn).has_table(name))
            except (SQLAlchemyError, OSError) as exc:
                raise external_db.db_error(exc, WORDS, connecting=False) from exc
    finally:
        engine.dispose()


def _stop(url: str | None, target_id: int, consumer: Actor, grant: Grant, reason: str) -> SyncReport:
    """R26: a refused sync stops the target, writes nothing, and the refusal is audited."""
    zh, en = MESSAGES.get(reason, MESSAGES["access.no_rule"])
    with session_scope(url) as s:
        s.execute(
            update(DbTarget)
            .where(DbTarget.id == target_id)
            .values(status="stopped", last_error={"code": reason, "message": zh, "message_en": en})
        )
        record(
            s,
            consumer,
            "data.read",
            object_type="resource",
            object_id=grant.resource_id,
            outcome="denied",
            grant_id=grant.id,
            scenario=grant.scenario,
            detail={"reason": reason, "method": "db_table", "path": f"db_target:{target_id}"},
        )
    return SyncReport(target_id, "stopped", reason)


def sync(actor: Actor, target_id: int, *, url: str | None = None) -> SyncReport:
    """R19: one sync of a target — decided anew; the first fills the table, later ones apply the change
    feed after `last_change_id`. Audited (read + subject keys) and receipted."""
    with read_scope(url) as s:
        target = s.get(DbTarget, target_id)
        if target is None:
            raise NotFound("delivery.target_unknown", f"没有编号为 {target_id} 的交付目标", "No such target")
        grant = _grant(s, target.grant_id)
        try:
            consumer = rowsmod.consumer_actor(s, actor, target.consumer_org_id)
        except Forbidden as exc:
            refused: Forbidden | None = exc  # another organisation's target: audited below (R26)
        else:
            refused = None
            decision = rowsmod.decide_for_grant(s, consumer, grant)
        identity = external_db.platform_identity(s)
        platform_urls = external_db.session_urls(s)
        s.expunge_all()
    if refused is not None:
        with session_scope(url) as s:
            record(
                s,
                actor,
                "data.read",
                object_type="resource",
                object_id=grant.resource_id,
                outcome="denied",
                grant_id=grant.id,
                scenario=grant.scenario,
                detail={"reason": refused.code, "method": "db_table", "path": f"db_target:{target_id}"},
            )
        raise refused
    if not decision.allowed:
        return _stop(url, target_id, consumer, grant, decision.reason)
    try:
        report, keys = _write(url, target, decision, identity, platform_urls)
    except Exception as exc:
        error = _failure(exc)
        with session_scope(url) as s:
            s.execute(
                update(DbTarget)
                .where(DbTarget.id == target_id)
                .values(status="failed", last_error=error.to_dict())
            )
        raise error from exc
    with session_scope(url) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None
        entry = audit_read(
            s,
            consumer,
            grant.resource_id,
            decision,
            keys,
            method="db_table",
            path=f"db_target:{target_id}",
            detail={
                "table": t.table_name,
                "full": report.full,
                "from_change": report.from_change,
                "to_change": report.to_change,
                "upserted": report.upserted,
                "deleted": report.deleted,
                "rows_sm3": report.rows_sm3,
            },
        )
        request = {"target": target_id, "table": t.table_name, "after": report.from_change}
        request |= {"to": report.to_change, "full": report.full}
        report.receipt = issue_receipt(
            consumer,
            resource_code=grant.resource_id,
            method="db_table",
            request=json.dumps(request, sort_keys=True),
            response=report.rows_sm3,
            grant_id=grant.id,
            scenario=grant.scenario,
            basis=decision.basis,
            records=report.upserted + report.deleted,
            audit_seq=entry.seq,
        )
        t.status, t.created, t.last_error, t.last_receipt = "active", True, None, report.receipt
        t.last_change_id, t.last_sync_at = report.to_change, now()
        t.rows_written += report.upserted
    return report


def _write(
    url: str | None,
    target: DbTarget,
    decision: DataDecision,
    identity: tuple[Any, ...] | None,
    platform_urls: Sequence[str],
) -> tuple[SyncReport, list[dict[str, Any]]]:
    """Write to the consumer's database in one of its transactions, once its URL is checked again and the
    connection is known not to reach the platform's database; returns the report and the subject keys of
    the rows written (for the audit log's data tracker)."""
    report = SyncReport(target.id, "synced", full=not target.created, from_change=target.last_change_id)
    digest = rowsmod.RowsDigest()
    keys: list[dict[str, Any]] = []
    engine = _checked_engine(target, platform_urls)
    try:
        with read_scope(url) as s, _connect(engine, identity, platform_urls) as conn, conn.begin():
            res = store.get_resource(s, target.resource_code)
            shape = rowsmod.Shape.of(res, decision, target.grant_id)
            subject = subject_key_items(s, target.resource_code)
            table = shape.consumer_table(target.table_name)
            if not report.full and store.load_since(s, target.resource_code, report.from_change):
                report.full = True  # a first full load is one event: its rows are taken whole
            if report.full:
                report.to_change = store.latest_change_id(s, target.resource_code)  # before the rows
                table.create(conn, checkfirst=True)
                conn.execute(table.delete())
                for chunk in rowsmod.full_rows(s, res, shape, CHUNK):
                    _apply(conn, table, shape, [(r, r) for r in chunk], digest, report)
                    keys += [{k: r.get(k) for k in subject} for r in chunk]
            else:
                report.to_change = report.from_change
                for changes in _changes(s, target.resource_code, report.from_change):
                    report.to_change = changes[-1].id
                    pairs = [(shape.change_key(c.record_key), shape.change_row(c)) for c in changes]
                    _apply(conn, table, shape, pairs, digest, report)
                    keys += [{k: c.after.get(k) for k in subject} for c in changes if shape.change_row(c)]
    except (SQLAlchemyError, NoSuchModuleError, OSError) as exc:
        raise external_db.db_error(exc, WORDS, connecting=False) from exc
    finally:
        engine.dispose()
    report.rows_sm3 = digest.hexdigest()
    return report, keys


def _changes(s: Session, code: str, after: int) -> Iterator[list[Any]]:
    while True:
        changes = store.changes_since(s, code, after, CHUNK)
        if not changes:
            return
        yield changes
        after = changes[-1].id


def _apply(
    conn: Connection,
    table: Table,
    shape: rowsmod.Shape,
    pairs: list[tuple[Any, dict[str, Any] | None]],
    digest: rowsmod.RowsDigest,
    report: SyncReport,
) -> None:
    """Apply a chunk in order: the last state of each key wins (each change carries the whole row); a
    key whose row is gone or left the grant's rows is deleted. Equivalent to one change at a time."""
    final: dict[Any, dict[str, Any] | None] = {}
    for key_or_row, row in pairs:
        key = shape.key_of(key_or_row) if isinstance(key_or_row, dict) else key_or_row
        out = shape.project(row, key) if row is not None else None
        final[key] = out
        digest.add(key, out)
        if out is None:
            report.deleted += 1
        else:
            report.upserted += 1
    pk = table.c[shape.pk]
    keys = list(final)
    for i in range(0, len(keys), 500):
        conn.execute(table.delete().where(pk.in_(keys[i : i + 500])))
    rows = [r for r in final.values() if r is not None]
    if rows:
        conn.execute(table.insert(), rows)


def claim_due(url: str | None = None) -> list[int]:
    """R19: the active (or failed, to retry) targets due, each claimed for this slot so it syncs once."""
    at = now()
    claimed: list[int] = []
    with session_scope(url) as s:
        stmt = select(DbTarget.id, DbTarget.next_sync_at).where(
            DbTarget.status.in_(("active", "failed")),
            (DbTarget.next_sync_at.is_(None)) | (DbTarget.next_sync_at <= at),
        )
        for target_id, due in s.execute(stmt).all():
            cond = DbTarget.next_sync_at.is_(None) if due is None else DbTarget.next_sync_at == due
            moved = s.execute(
                update(DbTarget).where(DbTarget.id == target_id, cond).values(next_sync_at=at + SYNC_EVERY)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(int(target_id))
    return claimed


def sync_due(url: str | None = None) -> dict[int, str]:
    """R19: sync every due target as the platform acting for the consumer; returns id → outcome."""
    from gongshu.kernel.identity.actor import SYSTEM

    out: dict[int, str] = {}
    for target_id in claim_due(url):
        try:
            out[target_id] = sync(SYSTEM, target_id, url=url).status
        except GongshuError as exc:
            out[target_id] = exc.code
    return out


def targets_of(session: Session, consumer_org_id: int) -> list[DbTarget]:
    stmt = select(DbTarget).where(DbTarget.consumer_org_id == consumer_org_id).order_by(DbTarget.id)
    return list(session.scalars(stmt))
