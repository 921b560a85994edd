"""R7: an uploaded file, spooled to the data directory, handed to the pipeline, then removed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.config import get_settings
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor

SUFFIXES = (".csv", ".txt", ".xlsx", ".jsonl", ".ndjson", ".json", ".parquet")


def _check(filename: str | None) -> str:
    if not filename:
        raise ValidationFailed(
            "ingest.file_required", "请选择要上传的数据文件", "Choose the data file to upload", field="file"
        )
    if not filename.lower().endswith(SUFFIXES):
        raise ValidationFailed(
            "ingest.format_unknown",
            "支持的文件格式：CSV、XLSX、JSONL、Parquet",
            "Supported formats: CSV, XLSX, JSONL, Parquet",
            field="file",
        )
    return filename


async def ingest_upload(
    actor: Actor,
    code: str,
    fileobj: BinaryIO,
    filename: str | None,
    *,
    mode: str,
    encoding: str | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """R7: spool the upload (bounded memory), run the pipeline off the event loop, clean up."""
    name = _check(filename)
    if mode not in ("full", "incremental"):
        raise ValidationFailed(
            "ingest.mode_invalid", "更新方式应为全量或增量", "Mode is full or incremental", field="mode"
        )
    folder = get_settings().ensure_data_dir() / "uploads"
    folder.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=Path(name).suffix.lower(), delete=False) as tmp:
        await run_in_threadpool(shutil.copyfileobj, fileobj, tmp, 1 << 20)
        path = Path(tmp.name)
    try:
        return await run_in_threadpool(
            lambda: ingest_file(
                actor,
                code,
                path,
                encoding=encoding or None,
                filename=name,
                mode=mode,
                source="upload",
                idempotency_key=idempotency_key,
            )
        )
    finally:
        path.unlink(missing_ok=True)
