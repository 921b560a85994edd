"""R7 R9 R13: the ingestion pipeline — a file (or any source of string record batches) becomes a batch:

1. open and decode the source, check its columns against the published items (R9 schema lock) and read
   up to its first data row — a refusal here (unreadable, wrong columns, no data row) stores nothing, not
   even a batch: nothing was received; 2. open the batch (`loading`, committed, audited); 3. per chunk of
   ~50k rows: transform and check column-wise (R13), refused cells to quarantine, accepted rows staged;
   4. de-duplicate on the key, complete from reference resources, stage the delete list; 5. in ONE
   transaction: history of every changed record, apply, copy the quarantine, commit the batch (audited).
Any failure leaves the resource's data as it was and the batch `failed`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gongshu.aggregation.checker import (
    Checked,
    Reopen,
    checked,
    in_worker,
    row_hashes,
    start_worker,
    stop_worker,
)
from gongshu.aggregation.decoding import RowNumbers
from gongshu.aggregation.readers import BATCH_ROWS, Source, open_source, without_helper_columns
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import AccessDenied, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import get_engine, read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.quality import completion, transforms
from gongshu.quality.rules import specs_of
from gongshu.quality.rulespec import RuleSpec
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.loader import Loader
from gongshu.store.models import Batch, StoreResource

Progress = Callable[[int], None]
log = logging.getLogger(__name__)
# The load connection's page cache (SQLite's default is 2 MB): it does not touch durability, and the
# connection is discarded after the load.
SQLITE_LOAD_PRAGMAS = ("cache_size=-65536",)
FIRST_HERE = 1  # chunks of a large file checked by the loader itself while its worker starts
HEARTBEAT_EVERY = 5.0  # seconds between heartbeats of a loading batch (stale after an hour of silence)
DATABASE_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error)
INTERNAL_ERROR = {
    "code": "ingest.internal_error",
    "message": "批次加载时数据库发生内部错误，数据未作任何改变；详情已记入平台日志，请联系运维单位",
    "message_en": "An internal database error stopped the batch; no data was changed. The details are in "
    "the platform's log: contact the operator",
}


def ingest_file(
    actor: Actor,
    resource_code: str,
    path: Path,
    *,
    encoding: str | None = None,
    fmt: str | None = None,
    filename: str | None = None,
    batch_rows: int = BATCH_ROWS,
    **options: Any,
) -> dict[str, Any]:
    """R7: load a file (CSV, XLSX, JSONL, Parquet) into a resource; returns the batch report. A large
    file is checked by a worker process, started first so that its start-up overlaps the opening.
    R13: a resubmission (`resubmission_of`) may be the refused-rows download, corrected: its helper
    columns (`_source_row`, `_problems`) are dropped before the schema lock, the `_source_row` of each
    line kept aside (the original batch's row it brings again, recorded with the batch), and it is
    checked in this process (the worker would read the file again, helper columns included)."""
    resubmission = options.get("resubmission_of") is not None
    threshold = get_settings().ingest_worker_min_bytes
    big = not resubmission and "reopen" not in options and 0 <= threshold <= Path(path).stat().st_size
    proc = start_worker() if big else None
    try:
        src = open_source(Path(path), encoding=encoding, fmt=fmt, batch_rows=batch_rows)
        if resubmission:
            carried: list[tuple[RowNumbers, pa.Array]] = []
            options["carried"] = carried
            src = without_helper_columns(src, carried)
        if proc is not None:
            options["reopen"] = Reopen(str(path), src.encoding, src.format, batch_rows)
            options["worker"] = proc
        return ingest_source(actor, resource_code, src, filename=filename or Path(path).name, **options)
    finally:
        if proc is not None:
            stop_worker(proc)


def _open_batch(
    actor: Actor,
    code: str,
    src: Source,
    url: str | None,
    *,
    mode: str,
    source: str,
    filename: str,
    idempotency_key: str | None,
    delete_keys: list[str],
    resubmission_of: int | None = None,
    before_batch: Callable[[], None] | None = None,
) -> tuple[Batch, bool, StoreResource, dict[str, str], list[RuleSpec]]:
    """Validate (access, resubmission, schema lock, mode, a first data row, then the caller's own check
    `before_batch`), then open the batch — committed before any data moves. What is refused before the
    batch opens leaves no batch."""
    with read_scope(url) as s:
        res = store.get_resource(s, code)
        if resubmission_of is not None:
            _check_resubmission(s, actor, code, resubmission_of, mode)
        mapping = admit(s, actor, res, src.columns)
        if delete_keys and mode != "incremental":
            raise ValidationFailed(
                "ingest.delete_needs_incremental",
                "按主键删除只适用于增量更新",
                "Deleting by key is for incremental loads only",
            )
        s.expunge(res)
    # Outside any transaction: reading the first chunk must not hold the database (SQLite's write lock).
    rest = src.chunks
    src.chunks = _with_rows(src)
    if before_batch is not None:
        try:
            before_batch()
        except BaseException:
            close = getattr(rest, "close", None)
            if close is not None:
                close()
            raise
    with session_scope(url) as s:
        prior = batches.find_idempotent(s, code, idempotency_key)
        if prior is not None:
            s.expunge_all()
            return prior, False, res, mapping, []
        batch = batches.start(
            s,
            actor,
            code,
            mode=mode,
            source=source,
            filename=filename,
            encoding=src.encoding,
            idempotency_key=idempotency_key,
            resubmission_of=resubmission_of,
        )
        rules = specs_of(s, code)
        for rule in rules:
            if rule.kind == "complete":  # resolve the reference resource's table now, in this transaction
                ref = store.get_resource(s, str(rule.params["reference"]))
                rule.params = {
                    **rule.params,
                    "table": ref.table_name,
                    "reference_key": rule.params.get("reference_key") or ref.key_item,
                }
        s.flush()
        s.expunge_all()
        return batch, True, res, mapping, rules


def admit(s: Session, actor: Actor, res: StoreResource, columns: list[str]) -> dict[str, str]:
    """R7 R9: may the actor load data into the resource (the access decision point, R26: the provider's
    loaders only), and are the file's columns exactly its published items (the schema lock)? Returns the
    header → item mapping. A load and a check before the load (`aggregation.precheck`) both ask here."""
    require(s, actor, Action.DATA_INGEST, org_id=store.provider_of(s, res.resource_code))
    return store.match_columns(res.items, columns)


def _check_resubmission(s: Session, actor: Actor, code: str, original: int, mode: str) -> None:
    """R7 R13: a resubmission brings the refused rows of a committed batch of the same resource again,
    corrected, as an incremental load (never a full one: it must not wipe the resource's data)."""
    batch = batches.resubmittable(s, actor, original)
    if batch.resource_code != code or mode != "incremental":
        raise ValidationFailed(
            "ingest.resubmission_invalid",
            f"重新提交的更正只能以增量方式加载到批次 {original} 的资源 {batch.resource_code}",
            f"A resubmission loads incrementally into the resource of batch {original} "
            f"({batch.resource_code}) only",
            details={"batch_id": original, "resource": batch.resource_code},
        )


def no_rows() -> ValidationFailed:
    return ValidationFailed("ingest.no_rows", "文件没有数据行", "The file has no data rows")


def _with_rows(src: Source) -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
    """R7 R13: read the source up to its first data row, before any batch opens: a source without one (a
    header-only file) is refused like a file that cannot be read — `ingest.no_rows`, and no batch, since
    nothing was received; so is a malformed first chunk. Returns the chunks, the ones read included."""
    rest = src.chunks
    head: list[tuple[pa.RecordBatch, RowNumbers]] = []
    for chunk in rest:
        head.append(chunk)
        if chunk[0].num_rows:
            break
    else:
        raise no_rows()

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        try:
            yield from head
            yield from rest
        finally:
            close = getattr(rest, "close", None)
            if close is not None:
                close()

    return chunks()


def ingest_source(
    actor: Actor,
    resource_code: str,
    src: Source,
    *,
    mode: str = "full",
    source: str = "upload",
    filename: str = "",
    idempotency_key: str | None = None,
    delete_keys: Iterable[str] = (),
    correction_ref: str | None = None,
    url: str | None = None,
    progress: Progress | None = None,
    before_commit: Callable[[], None] | None = None,
    reopen: Reopen | None = None,
    worker: subprocess.Popen[bytes] | None = None,
    resubmission_of: int | None = None,
    before_batch: Callable[[], None] | None = None,
    carried: list[tuple[RowNumbers, pa.Array]] | None = None,
) -> dict[str, Any]:
    """R7 R13: load an opened source into a resource; returns the batch report. With `reopen`, the file
    is read and checked again by a worker process (`aggregation.checker`) while this one loads. With
    `resubmission_of`, the source brings the refused rows of that batch again, corrected (R13);
    `carried` fills, as the source is read, with the `_source_row` its lines carried (the original
    batch's rows), recorded with the batch in its commit (`batches.keep_resubmitted_rows`).
    `before_batch`: the caller's last check once the source is found loadable, before the batch opens
    (R7: the upload page's confirmation of a full load) — its refusal leaves no batch."""
    keys = [str(k).strip() for k in delete_keys if str(k).strip()]
    batch, fresh, res, mapping, rules = _open_batch(
        actor,
        resource_code,
        src,
        url,
        mode=mode,
        source=source,
        filename=filename,
        idempotency_key=idempotency_key,
        delete_keys=keys,
        resubmission_of=resubmission_of,
        before_batch=before_batch,
    )
    if not fresh:
        return batches.report(batch)  # R7: the same idempotency key loads once
    try:
        return _load(
            actor,
            res,
            batch.id,
            src,
            mapping,
            rules,
            mode=mode,
            source=source,
            keys=keys,
            correction_ref=correction_ref,
            url=url,
            progress=progress,
            before_commit=before_commit,
            reopen=reopen,
            worker=worker,
            carried=carried,
        )
    except BaseException as exc:
        error = batch_error(exc, batch.id)
        refusal = None
        with session_scope(url) as s:
            batches.fail(s, batch.id, error)
            if isinstance(exc, AccessDenied):  # R26: the refused read is in the log, once
                refusal = completion.audited_refusal(exc, session=s)
        if refusal is not None:
            raise refusal from exc
        raise


def batch_error(exc: BaseException, batch_id: int) -> dict[str, Any]:
    """R7 R13: what a failed batch keeps as its error (shown to its provider, by the API and the pages):
    ours as raised; a database's, unexpected, as the generic `ingest.internal_error`; anything else as
    `ingest.failed` — never the exception's own text, which may hold a statement, its values or a path
    of the server (it goes to the log)."""
    if isinstance(exc, GongshuError):
        return {**exc.to_dict(), "message_en": exc.message_en}
    if isinstance(exc, DATABASE_ERRORS):
        log.error("batch %s failed on a database error", batch_id, exc_info=exc)
        return dict(INTERNAL_ERROR)
    log.error("batch %s failed", batch_id, exc_info=exc)
    return {
        "code": "ingest.failed",
        "message": "批次加载失败，数据未作任何改变",
        "message_en": "The batch failed; no data was changed",
    }


def _load(
    actor: Actor,
    res: StoreResource,
    batch_id: int,
    src: Source,
    mapping: dict[str, str],
    rules: list[RuleSpec],
    *,
    mode: str,
    source: str,
    keys: list[str],
    correction_ref: str | None,
    url: str | None,
    progress: Progress | None,
    before_commit: Callable[[], None] | None,
    reopen: Reopen | None = None,
    worker: subprocess.Popen[bytes] | None = None,
    carried: list[tuple[RowNumbers, pa.Array]] | None = None,
) -> dict[str, Any]:
    """Stage on one connection, then apply in one transaction on the same connection — or, for the
    first full load into an empty table, load directly in one transaction (`Loader.direct`)."""
    conn = get_engine(url).connect()
    names = [str(i["name"]) for i in res.items]
    reads: list[completion.CompletionRead] = []  # R26: what the completions read, audited at the commit

    def stage(loader: Loader) -> dict[str, int]:
        return _stage(
            loader,
            res,
            batch_id,
            src,
            mapping,
            rules,
            source=source,
            url=url,
            progress=progress,
            reopen=reopen,
            worker=worker,
            actor=actor,
            reads=reads,
        )

    def finish(s: Session, loader: Loader, counts: dict[str, int]) -> dict[str, Any]:
        report = _commit(
            s,
            loader,
            actor,
            res,
            batch_id,
            counts,
            mode=mode,
            correction_ref=correction_ref,
            carried=carried,
            reads=reads,
        )
        if before_commit:
            before_commit()
        s.commit()
        return report

    try:
        if conn.dialect.name == "sqlite":  # this connection is discarded after the load (see below)
            raw = conn.connection.driver_connection  # outside any transaction: no BEGIN for a pragma
            for pragma in SQLITE_LOAD_PRAGMAS:
                raw.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]
        if mode == "full" and not keys:
            with Session(bind=conn) as s:
                _lock(s, res)  # from here to the commit, no other load of this resource runs
                if _is_empty(s, res):
                    loader = Loader(conn, res.table_name, names, res.key_item, batch_id, direct=True)
                    return finish(s, loader, stage(loader))
                s.rollback()
        loader = Loader(conn, res.table_name, names, res.key_item, batch_id)
        # Staging touches only temporary tables: on SQLite it runs without the database's write lock.
        conn.execution_options(gongshu_readonly=conn.dialect.name == "sqlite")
        with conn.begin():
            counts = stage(loader)
            loader.stage_deletes(_canonical_keys(res, keys))
        conn.execution_options(gongshu_readonly=False)
        with Session(bind=conn) as s:
            s.connection()
            return finish(s, loader, counts)
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.invalidate()  # temporary staging tables die with the connection
        conn.close()


def _stage(
    loader: Loader,
    res: StoreResource,
    batch_id: int,
    src: Source,
    mapping: dict[str, str],
    rules: list[RuleSpec],
    *,
    source: str,
    url: str | None,
    progress: Progress | None,
    reopen: Reopen | None = None,
    worker: subprocess.Popen[bytes] | None = None,
    actor: Actor,
    reads: list[completion.CompletionRead],
) -> dict[str, int]:
    """R13 before the load: the checked chunks' refused cells to quarantine, accepted rows staged with
    their lineage; then de-duplicate and complete (each completion decided again now, `_complete`).
    Returns the counts."""
    counts = {"received": 0, "refused": 0, "deduplicated": 0, "completed": 0}
    loader.create()
    beat_due = 0.0
    # A direct load on SQLite holds the database's one write lock: its heartbeat would wait for it.
    # (Its batch commits or fails with the one transaction, so it is never left half-loaded.)
    beats = not (loader.direct and not loader.pg)
    if reopen is not None:
        # The first chunk is checked here, from the file as already opened, while the worker starts (it
        # reads past that chunk); the worker checks the rest.
        first = Source(src.columns, src.encoding, src.format, itertools.islice(src.chunks, FIRST_HERE))
        head = list(checked(res.items, res.key_item, first, mapping, rules))
        close = getattr(src.chunks, "close", None)
        if close is not None:
            close()  # the worker reads the file again
        parts: Iterator[Checked] = iter(head)
        if len(head) == FIRST_HERE:  # more may follow
            # PostgreSQL: the server stores the rows, so this process mostly waits for the worker; it
            # hashes the rows itself, taking a third of the worker's work (SQLite: this process, which
            # writes the rows, is the slower one, so the worker hashes them).
            where = dataclasses.replace(reopen, skip_chunks=FIRST_HERE, hashes=not loader.pg)
            parts = itertools.chain(head, in_worker(where, res.items, res.key_item, mapping, rules, worker))
    else:
        parts = checked(res.items, res.key_item, src, mapping, rules)
    stamp = now().astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")  # the batch's "ingested at"
    try:
        for part in parts:
            loader.quarantine(part.quarantine)
            hashes = part.hashes if part.hashes is not None else row_hashes(part.columns)
            loader.stage_columns(
                part.columns, part.numbers, hashes, batch_id=batch_id, source=source, stamp=stamp
            )
            counts["received"] += part.received
            counts["refused"] += part.refused
            if beats and time.monotonic() >= beat_due:  # after the first chunk, then every few seconds
                with session_scope(url) as beat:
                    batches.heartbeat(beat, batch_id)
                beat_due = time.monotonic() + HEARTBEAT_EVERY
            if progress:
                progress(part.received)
        loader.end_stream()
    except BaseException as exc:
        loader.end_stream(exc)
        raise
    if counts["received"] == 0:
        raise no_rows()
    counts["deduplicated"] = loader.deduplicate()
    counts["completed"] = _complete(loader, rules, res, actor, url, reads)
    counts["accepted"] = loader.staged - counts["deduplicated"]
    return counts


def _commit(
    s: Session,
    loader: Loader,
    actor: Actor,
    res: StoreResource,
    batch_id: int,
    counts: dict[str, int],
    *,
    mode: str,
    correction_ref: str | None,
    carried: list[tuple[RowNumbers, pa.Array]] | None = None,
    reads: list[completion.CompletionRead] | None = None,
) -> dict[str, Any]:
    """R7 R13: in the one transaction — history, apply, quarantine, the batch's report, audited. A full
    load with no accepted row keeps the data as it was (the batch fails, its quarantine is kept). A
    resubmission keeps the original batch's row each of its lines brings again (`carried`). R26: the
    completions' reads of their reference resources (`reads`) are audited with the commit."""
    _lock(s, res)
    at = now()
    nothing = mode == "full" and counts["accepted"] == 0
    applied = {"inserted": 0, "updated": 0, "deleted": 0}
    if not nothing:
        applied = loader.apply(
            full=mode == "full",
            code=res.resource_code,
            batch_id=batch_id,
            actor_user_id=actor.user_id,
            correction_ref=correction_ref,
            at=at,
        )
    loader.keep_quarantine(batch_id)
    if carried and not nothing:
        batches.keep_resubmitted_rows(s, batch_id, carried)
    batch = s.get(Batch, batch_id)
    resource = s.get(StoreResource, res.id)
    assert batch is not None and resource is not None
    for k, v in {**counts, **applied}.items():
        setattr(batch, k, v)
    batch.finished_at = at
    if nothing:
        batch.status = "failed"
        batch.error = {
            "code": "ingest.nothing_accepted",
            "message": "全量更新没有任何可接收的行，原有数据保持不变",
            "message_en": "A full load with no accepted row; the data was kept as it was",
        }
    else:
        batch.status = "committed"
        resource.row_count = resource.row_count + applied["inserted"] - applied["deleted"]
        resource.last_batch_id = batch_id
        if correction_ref is None:  # R9: a correction (R14 objection) is not a feed update
            resource.last_loaded_at = at
    report = batches.report(batch)
    if reads and not nothing:
        completion.audit_completion_reads(s, actor, res.resource_code, batch_id, reads)
    record(
        s,
        actor,
        "store.batch_failed" if nothing else "store.batch_commit",
        object_type="batch",
        object_id=batch_id,
        detail={k: report[k] for k in ("resource_code", "mode", "status", *counts, *applied)},
    )
    return report


def _lock(s: Session, res: StoreResource) -> None:
    """Loads of one resource commit one after another (row lock on PostgreSQL; SQLite has one writer), so
    change-event ids become visible in id order and a stream or table sync that follows them skips none."""
    s.execute(select(StoreResource.id).where(StoreResource.id == res.id).with_for_update())


def _is_empty(s: Session, res: StoreResource) -> bool:
    """R7: a full load into an empty table is a first load (inserts only): it may load directly."""
    table = s.connection().dialect.identifier_preparer.quote(res.table_name)
    return s.connection().exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first() is None


def _canonical_keys(res: StoreResource, keys: list[str]) -> list[str]:
    """R13: keys to delete get the same transforms as the key column (full-width, case, spaces)."""
    kind = next((str(i["data_type"]) for i in res.items if i["name"] == res.key_item), "string")
    return [k for k in transforms.for_type(kind, pa.array(keys, pa.string())).to_pylist() if k]


def _complete(
    loader: Loader,
    rules: list[RuleSpec],
    res: StoreResource,
    actor: Actor,
    url: str | None,
    reads: list[completion.CompletionRead],
) -> int:
    """R13 completion: fill missing fields from reference resources by key, set-based. R26: each is a read
    of the reference's data by the provider organisation, decided again here, just before it is made (a
    grant may have been revoked or have expired since the rule was set): a refusal fails the batch with
    `quality.reference_not_allowed`, nothing stored. What each read is kept in `reads` for the audit —
    the records and, where the key or the item read is an ID number or USCC, their values (hashed in
    the audit entry, never kept in clear)."""
    if not any(r.kind == "complete" for r in rules):
        return 0
    with read_scope(url) as s:
        decided = completion.enforce_references(s, actor, res.resource_code, rules, path="load")
        subjects = {
            id(rule): completion.subject_columns(
                s, str(rule.params["reference"]), completion.reference_items(s, rule.params)
            )
            for rule, _ in decided
        }
    done = 0
    for rule, decision in decided:
        p = rule.params
        args = (rule.item, str(p["table"]), str(p["reference_item"]), str(p["reference_key"]), p.get("by"))
        by_key, by_item = subjects[id(rule)]
        values: list[str] = []
        if by_key or by_item:
            for key, value in loader.completing(*args):
                values += [str(v) for v, wanted in ((key, by_key), (value, by_item)) if wanted and v]
        n = loader.complete(*args)
        done += n
        reads.append(
            completion.CompletionRead(
                str(p["reference"]),
                rule.item,
                (str(p["reference_item"]), str(p["reference_key"])),
                decision,
                n,
                tuple(values),
            )
        )
    return done
