"""R13 R14 R26: one record of a resource and its history, looked up by its key — where the record came from
(the batch, its file and source, the source row, when it was ingested and last updated) and every change
since (insert, update, delete: which items, before → after, by which batch or which objection case, who).
Problem data must be traceable (R13): the provider's data officers look up the records of their own
resources, the authority's supervisors those of every provider; to anyone else the record does not exist
(404, the same answer as for a key without a record, so that its existence does not leak). Every look-up
is audited with the keyed hash of the key (R26 data tracker), found or not.

The history lines are also what the objection's handling page shows (`quality.objections.handling_view`):
one rendering, here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import AccessDenied, decide
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import NotFound, ValidationFailed
from gongshu.kernel.identifiers.checks import check_id_number, check_uscc
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import as_utc
from gongshu.kernel.workflow.models import Case
from gongshu.quality import transforms
from gongshu.quality.objections import item_label, ruling_of
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.models import RecordHistory
from gongshu.store.tables import ROW_HASH

AUDIT_ACTION = "store.record_read"
VIA = "record_lookup"
# The record history keeps a key in at most this many characters (`store_record_history.record_key`).
KEY_MAX = 200
OPS: dict[str, tuple[str, str]] = {
    "insert": ("新增记录", "Record added"),
    "update": ("修改记录", "Record changed"),
    "delete": ("删除记录", "Record deleted"),
}
SOURCES: dict[str, tuple[str, str]] = {
    "upload": ("上传", "upload"),
    "push": ("推送", "push"),
    "pull": ("定时拉取", "scheduled pull"),
}
_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Change:
    """One changed item of a record history event: its label in both languages, before and after (as kept;
    `item` tells `objections.shown` how to read them)."""

    label_zh: str
    label_en: str
    before: Any
    after: Any
    item: dict[str, Any] | None = None

    def label(self, lang: str) -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en


@dataclass(frozen=True)
class BatchRef:
    """R7 R13: the batch a change came with — its number (the batch page's link), file and way in."""

    id: int
    filename: str
    source: str
    mode: str

    @property
    def url(self) -> str:
        return f"/data/batches/{self.id}"

    def source_label(self, lang: str) -> str:
        zh, en = SOURCES.get(self.source, (self.source, self.source))
        return zh if lang.startswith("zh") else en


@dataclass(frozen=True)
class HistoryLine:
    """R13 R14: a change of the record as the pages show it: when, what (per item, before → after), which
    batch brought it, who (person and organisation), and why (the objection case it corrected, with its
    reasons and the ruling it executed, if any)."""

    at: dt.datetime
    op: str
    changes: list[Change]
    user: str
    org_zh: str
    org_en: str
    correction_ref: str | None
    correction_case_id: int | None
    correction_title_zh: str
    correction_title_en: str
    correction_note: str
    # R14 R15 R17: the ruling the correction executed (the chain's step that upheld the objection), if any.
    ruling_zh: str = ""
    ruling_en: str = ""
    batch: BatchRef | None = None

    def org(self, lang: str) -> str:
        return self.org_zh if lang.startswith("zh") else self.org_en

    def correction_title(self, lang: str) -> str:
        return self.correction_title_zh if lang.startswith("zh") else self.correction_title_en

    def ruling(self, lang: str) -> str:
        return self.ruling_zh if lang.startswith("zh") else self.ruling_en

    def op_label(self, lang: str) -> str:
        zh, en = OPS.get(self.op, (self.op, self.op))
        return zh if lang.startswith("zh") else en


def _users(session: Session, ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def _batches(session: Session, ids: set[int | None]) -> dict[int, BatchRef]:
    out = {}
    for batch_id in sorted(i for i in ids if i is not None):
        b = batches.get(session, batch_id)
        out[batch_id] = BatchRef(b.id, b.filename, b.source, b.mode)
    return out


def history_lines(
    session: Session, code: str, record_key: str, items: list[dict[str, Any]]
) -> list[HistoryLine]:
    """R13 R14: every change of one record (`store.history`, oldest first) in words: the items an update
    changed, the batch, who, and the objection case a correction answered (`correction_ref`)."""
    events: list[RecordHistory] = store.history(session, code, record_key)
    users = _users(session, {e.actor_user_id for e in events})
    loads = _batches(session, {e.batch_id for e in events})
    refs = {e.correction_ref for e in events if e.correction_ref}
    cases = {c.number: c for c in session.scalars(select(Case).where(Case.number.in_(refs)))} if refs else {}
    rulings = {number: ruling_of(session, c) for number, c in cases.items()}
    out = []
    for e in events:
        before, after = e.before or {}, e.after or {}
        changes = [
            Change(item_label(i, "zh"), item_label(i, "en"), before.get(i["name"]), after.get(i["name"]), i)
            for i in items
            if e.op == "update" and before.get(i["name"]) != after.get(i["name"])
        ]
        user = users.get(e.actor_user_id) if e.actor_user_id is not None else None
        org = user.organisation if user is not None else None
        case = cases.get(e.correction_ref or "")
        ruling = rulings.get(e.correction_ref or "")
        out.append(
            HistoryLine(
                at=e.at,
                op=e.op,
                changes=changes,
                user=user.display_name if user else "",
                org_zh=org.name("zh") if org else "",
                org_en=org.name("en") if org else "",
                correction_ref=e.correction_ref,
                correction_case_id=case.id if case else None,
                correction_title_zh=case.title if case else "",
                correction_title_en=case.title_in("en") if case else "",
                correction_note=str(case.payload.get("correction_note") or "") if case else "",
                ruling_zh=ruling.body("zh") if ruling else "",
                ruling_en=ruling.body("en") if ruling else "",
                batch=loads.get(e.batch_id) if e.batch_id is not None else None,
            )
        )
    return out


# ---- the key ----------------------------------------------------------------------------------------


def _key_refused(code: str, zh: str, en: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field="key", details=details or None)


def normalise_key(items: list[dict[str, Any]], key_item: str, raw: str) -> str:
    """R10 R13: a key as typed, in the form the store keeps it under — transformed as the load's checks
    transform the key item (`quality.transforms`: trimmed, full-width digits and letters to half-width, an
    ID number or USCC upper-cased, so a lower-case x is an X), an integer without leading zeros — or a
    precise refusal: an empty or overlong key, an ID number or USCC that fails its check (the identifier's
    own code and message: length, region, birth date, check character…), a key not of its item's type."""
    text = (raw or "").strip()
    if not text:
        raise _key_refused("store.record_key_empty", "请输入记录的键", "Enter the record's key")
    if len(text) > KEY_MAX:
        raise _key_refused(
            "store.record_key_invalid",
            f"记录的键不能超过{KEY_MAX}个字符",
            f"A record's key has at most {KEY_MAX} characters",
        )
    item = next((i for i in items if i.get("name") == key_item), None)
    kind = "string" if item is None or key_item == ROW_HASH else str(item.get("data_type") or "string")
    fixed = transforms.for_type(kind, pa.array([text], pa.string()))[0].as_py()
    value = str(fixed) if fixed is not None else text
    if kind in ("id_number", "uscc"):
        check = check_id_number(value) if kind == "id_number" else check_uscc(value)
        if not check.valid:
            label_zh = "身份证号码" if kind == "id_number" else "统一社会信用代码"
            label_en = "ID number" if kind == "id_number" else "unified social credit code"
            raise _key_refused(
                check.error_code or "store.record_key_invalid",
                f"键不是有效的{label_zh}：{check.error_zh}",
                f"The key is not a valid {label_en}: {check.error_en}",
                kind=kind,
            )
    elif kind == "integer":
        if not _INTEGER.match(value):
            raise _key_refused("store.record_key_invalid", "键应为整数", "The key is an integer", kind=kind)
        value = str(int(value))
    elif kind == "date":
        try:
            value = dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise _key_refused(
                "store.record_key_invalid",
                "键应为日期（YYYY-MM-DD）",
                "The key is a date (YYYY-MM-DD)",
                kind=kind,
            ) from None
    return value


# ---- the look-up ------------------------------------------------------------------------------------


def not_found(code: str, key: str) -> NotFound:
    """R13: the answer for a key without a record (nor any history) — and, word for word, for a look-up the
    access decision point refuses, so that the record's existence does not leak."""
    return NotFound(
        "store.record_unknown",
        f"资源 {code} 中没有键为“{key}”的记录",
        f"Resource {code} holds no record with the key “{key}”",
    )


def basis_of(session: Session, actor: Actor, provider_org_id: int) -> str | None:
    """R13 R26 R28: why the actor may look up a record of the provider's resource — `provider` (a data
    officer of the provider, DATA_MANAGE over its organisation) or `supervision` (the authority's
    supervisors, SUPERVISE platform-wide) — or None: anyone else (another department, the public)."""
    if actor.is_anonymous:
        return None
    if decide(session, actor, Action.DATA_MANAGE, org_id=provider_org_id).allowed:
        return "provider"
    supervise = decide(session, actor, Action.SUPERVISE)
    if supervise.allowed and supervise.org_scope is None:
        return "supervision"
    return None


def may_look_up(session: Session, actor: Actor, code: str) -> bool:
    """R13: is the record look-up of resource `code` linked for this actor (its pages link it only then)?"""
    label = store.find_resource(session, code)
    if label is None:
        return False
    return basis_of(session, actor, store.provider_of(session, code)) is not None


def _denied(actor: Actor, code: str, key: str) -> AccessDenied:
    """R26: a refused look-up, audited (without the key) — answered as a key without a record (404)."""
    gone = not_found(code, key)
    denied = AccessDenied(
        gone.code,
        gone.message_zh,
        gone.message_en,
        actor=actor,
        resource_id=code,
        scenario=None,
        detail={"reason": "store.record_lookup_forbidden", "via": VIA},
    )
    denied.status_code = 404
    return denied


def _plain(value: Any) -> Any:
    """A stored value as JSON carries it: a decimal as its text (no padding zeros), a date or a time in ISO
    form; text, numbers and booleans as they are."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _instant(value: dt.datetime | None) -> str | None:
    """An instant the platform recorded (lineage, history), in ISO form with its zone (UTC)."""
    return as_utc(value).isoformat() if value is not None else None


@dataclass(frozen=True)
class Lineage:
    """R7 R13: where the record's current values came from."""

    batch: BatchRef | None
    source: str
    source_row: int | None
    ingested_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class RecordView:
    """R13 R14: one record as the look-up shows it — the current values and their lineage (None when the
    record is not in the resource any more: then `deleted`, and its history still shows) and its history,
    newest first."""

    code: str
    name: str
    name_en: str
    key: str
    key_item: str
    items: list[dict[str, Any]]
    values: dict[str, Any] | None
    lineage: Lineage | None
    history: list[HistoryLine]
    basis: str

    @property
    def found(self) -> bool:
        return self.values is not None or bool(self.history)

    @property
    def deleted(self) -> bool:
        return self.values is None and bool(self.history)

    def resource_name(self, lang: str) -> str:
        return self.name if lang.startswith("zh") else (self.name_en or self.name)


def record_view(session: Session, actor: Actor, code: str, key: str) -> RecordView:
    """R13 R14 R26: the record `key` of resource `code` — current values with their lineage, and its history
    (newest first) — for the provider's data officers and the authority's supervisors (`basis_of`). Anyone
    else is refused with the answer of a key without a record (404, audited as a refused read); an unknown
    resource is a 404 of its own; a malformed key is refused precisely (422, `normalise_key`). The look-up
    is audited (AUDIT_ACTION, with the key's keyed hash), found or not: the caller commits, then answers a
    record not `found` with `not_found` (404)."""
    info = store.describe(session, code)
    basis = basis_of(session, actor, store.provider_of(session, code))
    if basis is None:
        raise _denied(actor, code, (key or "").strip()[:KEY_MAX])
    items: list[dict[str, Any]] = list(info["items"])
    value = normalise_key(items, str(info["key_item"]), key)
    row = store.record_of(session, code, value)
    history = list(reversed(history_lines(session, code, value, items)))
    lineage = None
    values = None
    if row is not None:
        values = {str(i["name"]): row.get(str(i["name"])) for i in items}
        batch_id = row.get("_batch_id")
        lineage = Lineage(
            batch=_batches(session, {int(batch_id)}).get(int(batch_id)) if batch_id is not None else None,
            source=str(row.get("_source") or ""),
            source_row=row.get("_source_row"),
            ingested_at=row.get("_ingested_at"),
            updated_at=row.get("_updated_at"),
        )
    view = RecordView(
        code=code,
        name=str(info["name"]),
        name_en=str(info["name_en"]),
        key=value,
        key_item=str(info["key_item"]),
        items=items,
        values=values,
        lineage=lineage,
        history=history,
        basis=basis,
    )
    record(
        session,
        actor,
        AUDIT_ACTION,
        object_type="resource",
        object_id=code,
        scenario="R13 记录及变更历史查询",
        subject_keys=_subjects(items, str(info["key_item"]), value, values, history),
        detail={"via": VIA, "basis": basis, "found": view.found, "events": len(history)},
    )
    return view


def _subjects(
    items: list[dict[str, Any]],
    key_item: str,
    key: str,
    values: dict[str, Any] | None,
    history: list[HistoryLine],
) -> list[str]:
    """R26: whom the look-up showed — the ID numbers and USCCs among the record's values now and in its
    history (before and after), so each person or company finds the look-up among the reads of their
    data; the key itself when it is one (a key of another kind is no person's)."""
    kinds = {str(i["name"]): str(i.get("data_type")) for i in items}
    subject_items = {n for n, t in kinds.items() if t in ("id_number", "uscc")}
    found: list[str] = [key] if key_item in subject_items else []
    shown = [values or {}]
    for line in history:
        for change in line.changes:
            name = str((change.item or {}).get("name", ""))
            if name in subject_items:
                shown.append({name: change.before})
                shown.append({name: change.after})
    for row in shown:
        for name in subject_items:
            value = row.get(name)
            if value and str(value) not in found:
                found.append(str(value))
    return found


def as_json(view: RecordView) -> dict[str, Any]:
    """R13: the API's answer — the record (None once deleted), its lineage, its history (newest first)."""
    lineage = view.lineage
    return {
        "resource_code": view.code,
        "key": view.key,
        "key_item": view.key_item,
        "deleted": view.deleted,
        "record": {k: _plain(v) for k, v in view.values.items()} if view.values is not None else None,
        "lineage": None
        if lineage is None
        else {
            "batch_id": lineage.batch.id if lineage.batch else None,
            "batch_url": lineage.batch.url if lineage.batch else None,
            "filename": lineage.batch.filename if lineage.batch else None,
            "source": lineage.source,
            "source_row": lineage.source_row,
            "ingested_at": _instant(lineage.ingested_at),
            "updated_at": _instant(lineage.updated_at),
        },
        "history": [
            {
                "at": _instant(h.at),
                "op": h.op,
                "op_label": h.op_label("zh"),
                "op_label_en": h.op_label("en"),
                "changes": [
                    {
                        "item": (c.item or {}).get("name"),
                        "label": c.label_zh,
                        "label_en": c.label_en,
                        "before": c.before,
                        "after": c.after,
                    }
                    for c in h.changes
                ],
                "batch_id": h.batch.id if h.batch else None,
                "filename": h.batch.filename if h.batch else None,
                "source": h.batch.source if h.batch else None,
                "correction_ref": h.correction_ref,
                "correction_case_id": h.correction_case_id,
                "user": h.user or None,
                "organisation": h.org_zh or None,
                "organisation_en": h.org_en or None,
            }
            for h in view.history
        ],
    }
