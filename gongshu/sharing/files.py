"""R19 (file exchange): packages of a grant's items and rows in CSV (UTF-8 with BOM), XLSX and Parquet,
with a manifest listing each file's SM3 digest, size and rows, sealed by the platform, in a folder under
data_dir/exports/<grant>/<timestamp>/ and as a zip. Generation and every download ask the access decision
point again (R26), are audited, and generation gets a sealed receipt."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import subject_key_items
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import MESSAGES, DataDecision
from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import canonical_json, file_sm3, seal_document
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.timeutil import now
from gongshu.sharing import db_table
from gongshu.sharing.delivery_models import FILE_FORMATS, FileSchedule, Package
from gongshu.sharing.delivery_rows import Shape, consumer_actor, decide_for_grant, full_rows
from gongshu.sharing.reads import audit_read
from gongshu.sharing.receipts import issue_receipt
from gongshu.store import service as store

MANIFEST = "manifest.json"
RECEIPT = "receipt.json"
MANIFEST_KIND = "gongshu-file-package/1"
ARROW = {"integer": pa.int64(), "decimal": pa.string(), "date": pa.date32(), "boolean": pa.bool_()}
NOT_CONSUMER = (
    "只有授权接收单位的数据管理员可以获取该文件包",
    "Only the grant's consumer may have this package",
)
ARROW |= {"datetime": pa.timestamp("us")}


def _refuse(url: str | None, actor: Actor, grant: Grant, reason: str, path: str) -> Forbidden:
    """R26: a refused generation or download is audited (in a transaction of its own) and answered 403."""
    zh, en = MESSAGES.get(reason, NOT_CONSUMER)
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
            detail={"reason": reason, "method": "file", "path": path},
        )
    return Forbidden(reason, zh, en)


def schedule_files(
    session: Session, actor: Actor, grant_id: int, formats: list[str], every_hours: int
) -> FileSchedule:
    """R19: the consumer's data officer sets how often, and in which formats, a file grant's package is
    generated (one schedule per grant; setting it again changes it). Audited."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
    consumer_actor(session, actor, grant.consumer_org_id)
    _require_file_grant(grant)
    chosen = [f for f in FILE_FORMATS if f in formats]
    if not chosen or len(chosen) != len(set(formats)):
        raise ValidationFailed(
            "delivery.formats_invalid",
            "请选择文件格式：csv、xlsx、parquet",
            "Choose the file formats: csv, xlsx, parquet",
            field="formats",
        )
    if not 1 <= every_hours <= 24 * 31:
        raise ValidationFailed(
            "delivery.interval_invalid",
            "生成间隔应为 1 至 744 小时",
            "The interval is 1 to 744 hours",
            field="every_hours",
        )
    sched = session.scalar(select(FileSchedule).where(FileSchedule.grant_id == grant_id))
    if sched is None:
        sched = FileSchedule(grant_id=grant_id, created_by_user_id=actor.user_id)
        session.add(sched)
    sched.formats, sched.every_hours, sched.enabled = chosen, every_hours, True
    session.flush()
    record(
        session,
        actor,
        "delivery.file_schedule",
        object_type="file_schedule",
        object_id=sched.id,
        grant_id=grant_id,
        detail={"formats": chosen, "every_hours": every_hours},
    )
    return sched


def _require_file_grant(grant: Grant) -> None:
    if grant.delivery_method != "file":
        raise ValidationFailed(
            "delivery.method_not_file",
            "该授权的共享方式不是文件交换",
            "The grant's delivery method is not file exchange",
            field="grant_id",
        )


class _Writers:
    """The package's files, written chunk by chunk."""

    def __init__(self, folder: Path, base: str, shape: Shape, formats: list[str]) -> None:
        self.names, self.paths = shape.names, {f: folder / f"{base}.{f}" for f in formats}
        self.items = shape.items
        self._csv_file = (
            self.paths["csv"].open("w", encoding="utf-8-sig", newline="") if "csv" in formats else None
        )
        self._csv = csv.writer(self._csv_file) if self._csv_file else None
        if self._csv:
            self._csv.writerow(self.names)
        self._wb = openpyxl.Workbook(write_only=True) if "xlsx" in formats else None
        self._ws = self._wb.create_sheet("data") if self._wb else None
        if self._ws is not None:
            self._ws.append(self.names)
        fields = [
            pa.field(str(i["name"]), ARROW.get(str(i.get("data_type")), pa.string())) for i in self.items
        ]
        self.schema = pa.schema(fields)
        self._pq = pq.ParquetWriter(self.paths["parquet"], self.schema) if "parquet" in formats else None

    def add(self, rows: list[dict[str, Any]]) -> None:
        if self._csv:
            self._csv.writerows([["" if r[n] is None else _text(r[n]) for n in self.names] for r in rows])
        if self._ws is not None:
            for r in rows:
                self._ws.append([None if r[n] is None else _cell(r[n]) for n in self.names])
        if self._pq:
            cols = {n: [_arrow(i, r[n]) for r in rows] for n, i in zip(self.names, self.items, strict=True)}
            self._pq.write_table(pa.Table.from_pydict(cols, schema=self.schema))

    def close(self) -> None:
        if self._csv_file:
            self._csv_file.close()
        if self._wb is not None:
            self._wb.save(self.paths["xlsx"])
        if self._pq:
            self._pq.close()


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v.isoformat() if isinstance(v, dt.date) else str(v)


def _cell(v: Any) -> Any:
    return str(v) if not isinstance(v, int | float | bool | dt.date | str) else v


def _arrow(item: dict[str, Any], v: Any) -> Any:
    return str(v) if v is not None and item.get("data_type") == "decimal" else v


def _write_files(
    url: str | None, folder: Path, grant: Grant, decision: DataDecision, formats: list[str]
) -> tuple[Shape, dict[str, Path], list[dict[str, Any]], int]:
    """The package's data files: the granted items of the grant's rows, chunk by chunk, in each format."""
    keys: list[dict[str, Any]] = []
    records = 0
    with read_scope(url) as s:
        res = store.get_resource(s, grant.resource_id)
        shape = Shape.of(res, decision, grant.id)
        subject = subject_key_items(s, grant.resource_id)
        writers = _Writers(folder, grant.resource_id, shape, formats)
        try:
            for chunk in full_rows(s, res, shape, db_table.CHUNK):
                writers.add([shape.project(r, None) for r in chunk])
                keys += [{k: r.get(k) for k in subject} for r in chunk]
                records += len(chunk)
        finally:
            writers.close()
    return shape, writers.paths, keys, records


def generate_package(actor: Actor, grant_id: int, *, url: str | None = None) -> Package:
    """R19: generate a grant's package now — decided anew (method "file"), the granted items and rows in
    each scheduled format, the sealed manifest, the zip; audited with the subject keys, receipted."""
    with read_scope(url) as s:
        grant = s.get(Grant, grant_id)
        if grant is None:
            raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
        try:
            consumer: Actor | None = consumer_actor(s, actor, grant.consumer_org_id)
        except Forbidden:
            consumer = None  # another organisation's grant: refused below, and audited (R26)
        if consumer is not None:
            _require_file_grant(grant)
            decision = decide_for_grant(s, consumer, grant)
            sched = s.scalar(select(FileSchedule).where(FileSchedule.grant_id == grant_id))
            formats = list(sched.formats) if sched else list(FILE_FORMATS)
        s.expunge_all()
    if consumer is None:
        raise _refuse(url, actor, grant, "delivery.not_consumer", f"grant:{grant_id}/generate")
    if not decision.allowed:
        raise _refuse(url, consumer, grant, decision.reason, f"grant:{grant_id}/generate")
    at = now()
    folder = (
        get_settings().data_dir
        / "exports"
        / str(grant_id)
        / (at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6])
    )
    folder.mkdir(parents=True, exist_ok=False)
    try:
        shape, paths, keys, records = _write_files(url, folder, grant, decision, formats)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no half-written package is left behind
        raise
    document = {
        "kind": MANIFEST_KIND,
        "resource": grant.resource_id,
        "grant_id": grant_id,
        "scenario": grant.scenario,
        "consumer_org_id": grant.consumer_org_id,
        "items": shape.names,
        "generated_at": at.isoformat(),
        "files": [
            {"name": p.name, "format": f, "sm3": file_sm3(p), "size": p.stat().st_size, "records": records}
            for f, p in paths.items()
        ],
    }
    sealed = seal_document(document)
    (folder / MANIFEST).write_text(json.dumps(sealed, ensure_ascii=False, indent=2), encoding="utf-8")
    zip_name = f"{grant.resource_id}-{folder.name}.zip"
    with zipfile.ZipFile(folder / zip_name, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in [*paths.values(), folder / MANIFEST]:
            zf.write(p, p.name)
    names = [p.name for p in paths.values()] + [MANIFEST, zip_name]
    with session_scope(url) as s:
        package = Package(
            grant_id=grant_id,
            consumer_org_id=grant.consumer_org_id,
            resource_code=grant.resource_id,
            folder=str(folder),
            files=names,
            manifest=sealed,
            records=records,
            generated_at=at,
        )
        s.add(package)
        s.flush()
        entry = audit_read(
            s,
            consumer,
            grant.resource_id,
            decision,
            keys,
            method="file",
            path=f"package:{package.id}",
            detail={"files": names, "manifest_sm3": sealed["seal"]["sm3"]},
        )
        package.receipt = issue_receipt(
            consumer,
            resource_code=grant.resource_id,
            method="file",
            request=json.dumps({"grant": grant_id, "formats": formats, "at": at.isoformat()}, sort_keys=True),
            response=canonical_json(document),
            grant_id=grant_id,
            scenario=grant.scenario,
            basis=decision.basis,
            records=records,
            audit_seq=entry.seq,
        )
        (folder / RECEIPT).write_text(
            json.dumps(package.receipt, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        package.files = [*names, RECEIPT]
        s.execute(
            update(FileSchedule)
            .where(FileSchedule.grant_id == grant_id)
            .values(last_generated_at=at, last_package_path=str(folder / zip_name), last_error=None)
        )
        s.flush()
        s.expunge(package)
    return package


def package_file(actor: Actor, package_id: int, name: str, *, url: str | None = None) -> Path:
    """R19 R26: a file of a package, for the grant's consumer only — decided again at download time
    (a revoked or expired grant refuses it); every download, allowed or refused, is audited."""
    with read_scope(url) as s:
        package = s.get(Package, package_id)
        if package is None or name not in package.files:
            raise NotFound("delivery.package_unknown", "没有该文件包或文件", "No such package or file")
        grant = s.get(Grant, package.grant_id)
        assert grant is not None
        decision = None
        if actor.has_role("data_officer", package.consumer_org_id):
            decision = decide_for_grant(s, actor, grant)
        s.expunge_all()
    path = f"package:{package_id}/{name}"
    if decision is None:
        raise _refuse(url, actor, grant, "delivery.not_consumer", path)
    if not decision.allowed:
        raise _refuse(url, actor, grant, decision.reason, path)
    with session_scope(url) as s:
        audit_read(
            s,
            actor,
            grant.resource_id,
            decision,
            [],
            method="file",
            path=path,
            detail={"package": package_id, "file": name, "records": package.records},
        )
    return Path(package.folder) / name


def generate_due(url: str | None = None) -> dict[int, str]:
    """R19: regenerate the packages whose interval has passed, as the platform acting for the consumer;
    a refused grant (revoked, expired) disables its schedule. Returns grant id → outcome."""
    at = now()
    due: list[int] = []
    with session_scope(url) as s:
        for sched in s.scalars(select(FileSchedule).where(FileSchedule.enabled.is_(True))).all():
            last = sched.last_generated_at
            if last is not None and last + dt.timedelta(hours=sched.every_hours) > at:
                continue
            cond = (
                FileSchedule.last_generated_at.is_(None)
                if last is None
                else FileSchedule.last_generated_at == last
            )
            moved = s.execute(
                update(FileSchedule).where(FileSchedule.id == sched.id, cond).values(last_generated_at=at)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                due.append(sched.grant_id)
    out: dict[int, str] = {}
    for grant_id in due:
        try:
            out[grant_id] = f"package:{generate_package(SYSTEM, grant_id, url=url).id}"
        except GongshuError as exc:
            out[grant_id] = exc.code
            with session_scope(url) as s:
                values: dict[str, Any] = {"last_error": exc.to_dict()}
                if isinstance(exc, Forbidden):
                    values["enabled"] = False
                s.execute(update(FileSchedule).where(FileSchedule.grant_id == grant_id).values(**values))
    return out


def packages_of(session: Session, consumer_org_id: int, limit: int = 50) -> list[Package]:
    stmt = (
        select(Package)
        .where(Package.consumer_org_id == consumer_org_id)
        .order_by(Package.generated_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def schedules_of(session: Session, grant_ids: list[int]) -> dict[int, FileSchedule]:
    if not grant_ids:
        return {}
    stmt = select(FileSchedule).where(FileSchedule.grant_id.in_(grant_ids))
    return {f.grant_id: f for f in session.scalars(stmt)}
