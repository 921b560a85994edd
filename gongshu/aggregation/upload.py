"""R7: an uploaded file, spooled to the data directory, handed to the pipeline, then removed; the upload
page's safety (a full load replaces every record: the page asks for it explicitly), and the resubmission
of a batch's refused rows, corrected (R13)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool

from gongshu.aggregation import client_input
from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.precheck import check_file
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.store import batches
from gongshu.store import service as store

SUFFIXES = (".csv", ".txt", ".xlsx", ".jsonl", ".ndjson", ".json", ".parquet")
PAGE_MODE = "incremental"
"""R7: the upload page's default mode — insert or update by key. A full load (which deletes every record
the file does not hold) is chosen explicitly, and confirmed when the resource holds data. The API and the
command line keep their documented default (full)."""
CONFIRM_FIELD = "confirm_full"
"""R7: the upload form's checkbox "我确认用本文件替换现有全部 N 条记录"."""
YES = ("1", "on", "yes", "true")


def _check(filename: str | None) -> str:
    """R7: the upload's file name as the batch keeps it (`client_input.base_name`: no directories, no
    control characters, at most 200 characters), with a known suffix."""
    if not filename:
        raise ValidationFailed(
            "ingest.file_required", "请选择要上传的数据文件", "Choose the data file to upload", field="file"
        )
    filename = client_input.base_name(filename)
    if not filename:
        raise ValidationFailed(
            "ingest.file_name_invalid",
            "上传文件的文件名为空（或只有目录部分），请选择一个有文件名的数据文件",
            "The uploaded file's name is empty (or only a folder); choose a data file with a name",
            field="file",
        )
    if not filename.lower().endswith(SUFFIXES):
        raise ValidationFailed(
            "ingest.format_unknown",
            "支持的文件格式：CSV、XLSX、JSONL、Parquet",
            "Supported formats: CSV, XLSX, JSONL, Parquet",
            field="file",
        )
    return filename


async def _spooled(fileobj: BinaryIO, name: str, load: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """R7: spool the upload (bounded memory), run `load` on it off the event loop, clean up."""
    folder = get_settings().ensure_data_dir() / "uploads"
    folder.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=Path(name).suffix.lower(), delete=False) as tmp:
        await run_in_threadpool(shutil.copyfileobj, fileobj, tmp, 1 << 20)
        path = Path(tmp.name)
    try:
        return await run_in_threadpool(load, path)
    finally:
        path.unlink(missing_ok=True)


async def _spooled_ingest(
    actor: Actor,
    code: str,
    fileobj: BinaryIO,
    name: str,
    *,
    mode: str,
    encoding: str | None,
    idempotency_key: str | None,
    **extra: Any,
) -> dict[str, Any]:
    """R7: an uploaded file, spooled, through the pipeline as an upload of `name`."""
    idempotency_key = _key(idempotency_key)
    return await _spooled(
        fileobj,
        name,
        lambda path: ingest_file(
            actor,
            code,
            path,
            encoding=encoding or None,
            filename=name,
            mode=mode,
            source="upload",
            idempotency_key=idempotency_key,
            **extra,
        ),
    )


def _key(value: str | None) -> str | None:
    """R7: an upload's optional Idempotency-Key, refused (422) when a header cannot carry it intact."""
    return client_input.idempotency_key(value, domain="ingest", required=False)


def stored_or_refused(report: dict[str, Any]) -> dict[str, Any]:
    """R7 R13: a load's report as the API answers it. A batch that stored nothing — a full load without
    one accepted row (`ingest.nothing_accepted`: the resource's data is kept as it was, the refused rows
    are in the batch's quarantine) — is a 422 carrying the batch report (`details.batch`), never a
    success a client could take for stored data."""
    if report.get("status") != "failed":
        return report
    error = report.get("error") or {}
    raise ValidationFailed(
        str(error.get("code") or "ingest.failed"),
        str(error.get("message") or "批次加载失败，数据未作任何改变"),
        str(error.get("message_en") or "The batch failed; no data was changed"),
        details={"batch": report},
    )


async def ingest_upload(
    actor: Actor,
    code: str,
    fileobj: BinaryIO,
    filename: str | None,
    *,
    mode: str,
    encoding: str | None,
    idempotency_key: str | None = None,
    before_batch: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """R7: spool the upload (bounded memory), run the pipeline off the event loop, clean up.
    `before_batch`: a last check once the file is found loadable, before its batch opens."""
    name = _check(filename)
    if mode not in ("full", "incremental"):
        raise ValidationFailed(
            "ingest.mode_invalid", "更新方式应为全量或增量", "Mode is full or incremental", field="mode"
        )
    return await _spooled_ingest(
        actor,
        code,
        fileobj,
        name,
        mode=mode,
        encoding=encoding,
        idempotency_key=idempotency_key,
        before_batch=before_batch,
    )


async def check_upload(
    actor: Actor, code: str, fileobj: BinaryIO | None, filename: str | None, *, encoding: str | None
) -> dict[str, Any]:
    """R13: spool the upload, check it against the resource as a load would (`precheck.check_file`),
    store nothing, clean up."""
    name = _check(filename)
    assert fileobj is not None  # a chosen file (`_check`)
    return await _spooled(
        fileobj,
        name,
        lambda path: check_file(actor, code, path, encoding=encoding or None, filename=name),
    )


# ---- the upload page's safety (R7) -------------------------------------------------------------------


def confirmed(value: object) -> bool:
    """R7: is the form's confirmation checkbox ticked?"""
    return isinstance(value, str) and value.strip().lower() in YES


def records_replaced(code: str, *, url: str | None = None) -> int:
    """R7: how many records a full load of `code` would replace (the number the checkbox names)."""
    with read_scope(url) as s:
        return store.get_resource(s, code).row_count


def require_full_confirmation(code: str, mode: str, confirm: bool, *, url: str | None = None) -> None:
    """R7: a full load replaces every record of the resource with the file's — a one-row file deletes all
    the others. From the upload page it needs the explicit confirmation when the resource holds data
    (the checkbox naming how many records it replaces); without it, a 422 that names them, and nothing
    is loaded. An incremental load, or a full load into an empty resource, needs none."""
    if mode != "full" or confirm:
        return
    n = records_replaced(code, url=url)
    if n <= 0:
        return
    raise ValidationFailed(
        "ingest.full_needs_confirmation",
        f"全量更新会用本文件替换现有全部 {n} 条记录，文件中没有的记录将被删除。如确需替换，请勾选"
        f"“我确认用本文件替换现有全部 {n} 条记录”后重新上传；只想新增或更新记录，请选择增量更新。",
        f"A full load replaces all {n} existing records with this file, and deletes every record the file "
        f"does not hold. To replace them, tick “I confirm this file replaces all {n} existing records” and "
        "upload again; to insert or update records only, choose incremental.",
        field=CONFIRM_FIELD,
        details={"records": n},
    )


async def page_upload(
    actor: Actor,
    code: str,
    fileobj: BinaryIO | None,
    filename: str | None,
    *,
    mode: str,
    encoding: str | None,
    confirm_full: bool,
) -> dict[str, Any]:
    """R7: the upload page's load (`ingest_upload`), with a full load's confirmation asked once the file
    is found loadable — its columns, encoding and first data row checked, so that a wrong file gets its
    own precise error first — and before its batch opens (`require_full_confirmation`: without it, a 422
    and no batch)."""
    name = _check(filename)
    assert fileobj is not None  # a chosen file (`_check`)
    return await ingest_upload(
        actor,
        code,
        fileobj,
        name,
        mode=mode,
        encoding=encoding,
        before_batch=lambda: require_full_confirmation(code, mode, confirm_full),
    )


# ---- resubmission of refused rows (R13) ----------------------------------------------------------------


def resubmission_target(actor: Actor, batch_id: int, *, url: str | None = None) -> str:
    """R7 R13: the resource of the batch whose refused rows the actor resubmits, once the batch is found
    resubmittable (404, 403, 409: `store.batches.resubmittable`)."""
    with read_scope(url) as s:
        return batches.resubmittable(s, actor, batch_id).resource_code


async def resubmit_upload(
    actor: Actor,
    batch_id: int,
    fileobj: BinaryIO | None,
    filename: str | None,
    *,
    encoding: str | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """R13: the corrected rows of batch `batch_id`, sent back as a file (the refused-rows download with its
    values fixed, or any file with the published columns). It loads as an INCREMENTAL batch of the same
    resource (never full: a resubmission must not wipe data) that names the original batch; the download's
    helper columns (`_source_row`, `_problems`) are dropped, any other extra column is refused by the
    schema lock. The batch is checked before the file is spooled."""
    code = await run_in_threadpool(resubmission_target, actor, batch_id)
    name = _check(filename)
    assert fileobj is not None  # a chosen file (`_check`)
    return await _spooled_ingest(
        actor,
        code,
        fileobj,
        name,
        mode="incremental",
        encoding=encoding,
        idempotency_key=idempotency_key,
        resubmission_of=batch_id,
    )
