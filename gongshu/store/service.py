"""R7 R8 R9 R10: the data store — provisioning of a published resource's table, migration on an approved
change of its items, and the read helpers the other domains use (through this module, never the tables)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import CursorResult, Table, Text, bindparam, cast, func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.crypto.sm import hmac_sm3_hex
from gongshu.kernel.db import core_connection
from gongshu.kernel.errors import NotFound, ValidationFailed
from gongshu.store import tables
from gongshu.store.loader import LOAD_OP
from gongshu.store.models import RecordHistory, StoreResource


def has_data(session: Session, resource_code: str) -> bool:
    """R7 R8: has any data of the resource `resource_code` been aggregated into the platform?

    Yes when the resource's table holds rows loaded by a committed batch."""
    res = find_resource(session, resource_code)
    return res is not None and res.last_batch_id is not None and res.row_count > 0


def find_resource(session: Session, resource_code: str) -> StoreResource | None:
    return session.scalar(select(StoreResource).where(StoreResource.resource_code == resource_code))


def get_resource(session: Session, resource_code: str) -> StoreResource:
    """R7: the provisioned resource, or a precise 404."""
    res = find_resource(session, resource_code)
    if res is None:
        raise NotFound(
            "store.resource_unknown",
            f"资源 {resource_code} 尚未发布或没有数据表",
            f"Resource {resource_code} is not published or has no data table",
        )
    return res


def provider_of(session: Session, resource_code: str) -> int:
    """R7: the provider organisation of a resource (its catalog entry's)."""
    from gongshu.catalog.data_view import entry_label

    label = entry_label(session, resource_code)
    org_id = label.provider_org_id if label is not None else None
    if org_id is None:
        raise NotFound(
            "store.resource_unknown", f"资源 {resource_code} 不存在", f"No resource {resource_code}"
        )
    return int(org_id)


def table_of(res: StoreResource) -> Table:
    return tables.data_table(res.table_name, res.items, res.key_item)


def _items_of(entry: Any) -> list[dict[str, Any]]:
    keys = ("name", "label_zh", "label_en", "data_type", "length", "is_key", "sensitivity")
    return [{k: getattr(it, k) for k in keys} for it in sorted(entry.items, key=lambda i: i.seq)]


def provision(session: Session, entry: Any) -> StoreResource:
    """R7 R9 R10: give a published entry its typed table (key item as primary key, lineage columns); on a
    re-publication whose items changed (an approved catalog change, R9), migrate the table."""
    items = _items_of(entry)
    key = tables.key_item(items, getattr(entry, "subject_kind", "other") or "other")
    res = find_resource(session, entry.resource_code)
    conn = session.connection()
    if res is None:
        res = StoreResource(
            resource_code=entry.resource_code,
            table_name=tables.table_name_for(entry.resource_code),
            key_item=key,
            items=items,
        )
        table = tables.data_table(res.table_name, items, key)
        table.drop(conn, checkfirst=True)  # an orphan table (no resource row) is not the platform's data
        tables.create(conn, table)
        session.add(res)
        session.flush()
        record(
            session,
            None,
            "store.provision",
            object_type="resource",
            object_id=res.resource_code,
            detail={"table": res.table_name, "key": key},
        )
        return res
    if items == res.items and key == res.key_item:
        return res
    return migrate_table(session, res, items, key)


def _spec_of(items: list[dict[str, Any]], name: str) -> tuple[Any, Any] | None:
    """An item's type and length (what its column is built from), or None for the row hash."""
    return next(((i.get("data_type"), i.get("length")) for i in items if i.get("name") == name), None)


def migrate_table(
    session: Session, res: StoreResource, items: list[dict[str, Any]], key: str
) -> StoreResource:
    """R9: items change only through an approved catalog change, and the table follows: columns are added
    and dropped; a new key — or the key's type or length changed — means a new (empty) table, and the
    data must be re-aggregated (R9). (A key column cannot be emptied and retyped in place as other columns
    are: it is the table's primary key.)"""
    conn = session.connection()
    if key != res.key_item or _spec_of(items, key) != _spec_of(res.items, key):
        tables.data_table(res.table_name, res.items, res.key_item).drop(conn, checkfirst=True)
        tables.create(conn, tables.data_table(res.table_name, items, key))
        change: dict[str, Any] = {"rebuilt": True, "key": key}
        res.row_count = 0
    else:
        change = tables.migrate(conn, res.table_name, res.items, items)
    res.items, res.key_item = items, key
    res.schema_version += 1
    session.flush()
    record(
        session,
        None,
        "store.migrate",
        object_type="resource",
        object_id=res.resource_code,
        detail={"schema_version": res.schema_version, **change},
    )
    return res


def rows(
    session: Session,
    resource_code: str,
    *,
    columns: list[str] | None = None,
    key: str | None = None,
    limit: int = 100,
    offset: int = 0,
    lineage: bool = False,
) -> list[dict[str, Any]]:
    """R7: rows of a resource in key order, projected on `columns` (items; lineage on request). The caller
    has decided access (kernel access) before calling."""
    res = get_resource(session, resource_code)
    table = table_of(res)
    names = columns or [i["name"] for i in res.items]
    if lineage:
        names = [*names, *tables.LINEAGE]
    stmt = select(*(table.c[n] for n in names)).order_by(table.c[res.key_item]).limit(limit).offset(offset)
    if key is not None:
        stmt = stmt.where(table.c[res.key_item] == key)
    return [dict(r._mapping) for r in session.execute(stmt)]


def count(session: Session, resource_code: str) -> int:
    res = get_resource(session, resource_code)
    return int(session.scalar(select(func.count()).select_from(table_of(res))) or 0)


def history(session: Session, resource_code: str, record_key: str) -> list[RecordHistory]:
    """R13 R14: every change of one record, oldest first.

    A first full load records one `load` event for its batch, not one `insert` per record (see
    `store.loader.Loader`); the record's insert by that batch is told here, from what followed it: a load
    goes into an empty table, so a record whose next event after the load is an update or a delete (and
    not an insert) came with the load, with that event's values before; a record with no later event
    came with it when its row still carries the load's batch. Events for every record of the resource
    (record key `*`: loads, purges) mark where each such stretch ends."""
    stmt = (
        select(RecordHistory)
        .where(
            RecordHistory.resource_code == resource_code,
            RecordHistory.record_key.in_((record_key, "*")),
        )
        .order_by(RecordHistory.id)
    )
    events = list(session.scalars(stmt))
    if not any(e.op == LOAD_OP and e.record_key == "*" for e in events):
        return [e for e in events if e.record_key == record_key]
    out: list[RecordHistory] = []
    for i, event in enumerate(events):
        if event.record_key == record_key:
            out.append(event)
            continue
        if event.op != LOAD_OP:
            continue
        following = next(iter(events[i + 1 :]), None)
        values: dict[str, Any] | None = None
        if following is None:
            row = _current_row(session, resource_code, record_key)
            if row is not None and row.get("_batch_id") == event.batch_id:
                values = {k: v for k, v in row.items() if k not in tables.LINEAGE}
        elif following.record_key == record_key and following.op in ("update", "delete"):
            values = following.before
        if values is not None:
            out.append(
                RecordHistory(
                    id=event.id,
                    resource_code=resource_code,
                    record_key=record_key,
                    op="insert",
                    before=None,
                    after=_jsonable(values),
                    batch_id=event.batch_id,
                    correction_ref=event.correction_ref,
                    actor_user_id=event.actor_user_id,
                    at=event.at,
                )
            )
    return out


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """The values as the history keeps them (JSON: dates and decimals as text)."""
    return {
        k: v if v is None or isinstance(v, str | int | float | bool) else str(v) for k, v in values.items()
    }


def _current_row(session: Session, resource_code: str, record_key: str) -> dict[str, Any] | None:
    res = get_resource(session, resource_code)
    table = table_of(res)
    col = table.c[res.key_item]
    key: Any = record_key
    kind = col.type.python_type
    try:  # the key as its column holds it: a text that is no such value names no record
        if kind is int:
            key = int(record_key)
        elif kind is Decimal:
            key = Decimal(record_key)
            if not key.is_finite():
                return None
        elif kind is dt.datetime:
            key = dt.datetime.fromisoformat(record_key)
        elif kind is dt.date:
            key = dt.date.fromisoformat(record_key)
        elif kind is bool:
            key = {"1": True, "true": True, "0": False, "false": False}[record_key.strip().lower()]
    except (ValueError, ArithmeticError, KeyError):
        return None
    row = session.execute(select(table).where(col == key)).first()
    return dict(row._mapping) if row is not None else None


def record_of(session: Session, resource_code: str, record_key: str) -> dict[str, Any] | None:
    """R13: the record `record_key` (the key as the history keeps it: text) with its lineage columns, or
    None when the resource holds no such record. The caller has decided access before calling."""
    return _current_row(session, resource_code, record_key)


def load_since(session: Session, resource_code: str, after_id: int) -> bool:
    """R19: has a first full load (one `load` event for a whole batch) happened after event `after_id`?
    A follower that meets one takes the resource's rows whole instead of event by event."""
    stmt = select(RecordHistory.id).where(
        RecordHistory.resource_code == resource_code,
        RecordHistory.id > after_id,
        RecordHistory.op == LOAD_OP,
    )
    return session.scalar(stmt.limit(1)) is not None


def changes_since(
    session: Session, resource_code: str, after_id: int = 0, limit: int = 1000
) -> list[RecordHistory]:
    """R19: the change events of a resource after a given event id, oldest first — the outbox that database
    table deliveries and data streams follow (each change is a record-history row: op, before, after)."""
    stmt = (
        select(RecordHistory)
        .where(RecordHistory.resource_code == resource_code, RecordHistory.id > after_id)
        .order_by(RecordHistory.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def latest_change_id(session: Session, resource_code: str) -> int:
    """The id of a resource's newest change event (0 when it has none)."""
    value = session.scalar(
        select(func.max(RecordHistory.id)).where(RecordHistory.resource_code == resource_code)
    )
    return int(value or 0)


def column_shown(item: dict[str, Any], lang: str = "zh") -> str:
    """R9: an item as a file's header may name it — its Chinese label and its name, 「状态（status）」 (in
    English "状态 (status)"); the bare name when it has no label."""
    name, label = str(item["name"]), str(item.get("label_zh") or "")
    if not label or label == name:
        return name
    return f"{label}（{name}）" if lang == "zh" else f"{label} ({name})"


def match_columns(items: list[dict[str, Any]], columns: list[str]) -> dict[str, str]:
    """R9: the schema lock — a batch's columns must be exactly the published items (by name, or by their
    Chinese label as an alias). Returns header → item name; refuses with the precise column diff, naming
    a missing item as the file would (its Chinese label and its name) and an unknown column as the file
    did."""
    by_name = {str(i["name"]): str(i["name"]) for i in items}
    by_label = {str(i["label_zh"]): str(i["name"]) for i in items if i.get("label_zh")}
    mapping: dict[str, str] = {}
    unexpected: list[str] = []
    for col in columns:
        name = by_name.get(col) or by_label.get(col)
        if name is None or name in mapping.values():
            unexpected.append(col)
        else:
            mapping[col] = name
    missing = [n for n in by_name if n not in mapping.values()]
    if missing or unexpected:
        item_of = {str(i["name"]): i for i in items}
        missing_zh = [column_shown(item_of[n], "zh") for n in missing]
        missing_en = [column_shown(item_of[n], "en") for n in missing]
        raise ValidationFailed(
            "store.schema_mismatch",
            "数据列与已发布目录的信息项不一致"
            + (f"；缺少：{'、'.join(missing_zh)}" if missing else "")
            + (f"；多出：{'、'.join(unexpected)}" if unexpected else ""),
            "The columns do not match the published catalog items"
            + (f"; missing: {', '.join(missing_en)}" if missing else "")
            + (f"; unexpected: {', '.join(unexpected)}" if unexpected else ""),
            details={"missing": missing, "unexpected": unexpected},
        )
    return mapping


def describe(session: Session, resource_code: str) -> dict[str, Any]:
    """R7: what a page shows about a resource: its catalog name, provider, key, items and row count."""
    from gongshu.catalog.data_view import entry_label

    res = get_resource(session, resource_code)
    entry = entry_label(session, resource_code)
    return {
        "resource_code": resource_code,
        "name": entry.name if entry else resource_code,
        "name_en": (entry.name_en if entry else "") or resource_code,
        "provider_org_id": entry.provider_org_id if entry else None,
        "key_item": res.key_item,
        "items": res.items,
        "row_count": res.row_count,
        "last_loaded_at": res.last_loaded_at,
    }


def resources_of(session: Session, org_ids: frozenset[int] | None) -> list[dict[str, Any]]:
    """R7: the provisioned resources of the given provider organisations (None: every provider)."""
    from gongshu.catalog.data_view import entry_labels

    labels = entry_labels(session, org_ids)
    stmt = select(StoreResource).order_by(StoreResource.resource_code)
    return [
        {
            "resource_code": r.resource_code,
            "name": label.name,
            "name_en": label.name_en or r.resource_code,
            "provider_org_id": label.provider_org_id,
            "row_count": r.row_count,
            "last_loaded_at": r.last_loaded_at,
        }
        for r in session.scalars(stmt)
        if (label := labels.get(r.resource_code)) is not None
    ]


def provision_missing(session: Session) -> list[str]:
    """R7: published entries without a table (published before the store existed, or loaded directly)
    get theirs; idempotent."""
    from gongshu.catalog.data_view import published_entries

    have = set(session.scalars(select(StoreResource.resource_code)))
    missing = [e for e in published_entries(session) if e.resource_code not in have]
    return [provision(session, entry).resource_code for entry in missing]


# ---- security treatment (R21) ------------------------------------------------------------------------

TREATMENT_METHODS = ("hash", "mask")


def _treated(value: Any, item: dict[str, Any], method: str, key: bytes, is_key: bool) -> Any:
    """A treated value: text becomes a keyed SM3 hash (or a mask, except for the key); other types are
    withheld (NULL), since no value of theirs can be shown without revealing it."""
    if value is None:
        return None
    if tables.TYPES.get(str(item.get("data_type"))) is not None:
        return None
    text = str(value)
    limit = int(item.get("length") or 64)
    if method == "mask" and not is_key:
        return (text[:1] + "*" * (len(text) - 1))[:limit]
    return hmac_sm3_hex(key, text.encode())[: min(limit, 64)]


def _scrub_history_and_quarantine(
    session: Session, code: str, items: set[str] | None, keys: dict[str, str] | None = None
) -> None:
    """R21: the values before the treatment must not survive in the record history nor in quarantine
    (`items` None: every value); `keys` maps treated record keys to their new values (None: keep them)."""
    from gongshu.store.models import Batch, QuarantineRow

    for h in session.scalars(select(RecordHistory).where(RecordHistory.resource_code == code)):
        if keys is not None:
            h.record_key = keys.get(h.record_key, "***")
        for attr in ("before", "after"):
            values = getattr(h, attr)
            if values is None:
                continue
            setattr(
                h,
                attr,
                None if items is None else {k: "***" if k in items else v for k, v in values.items()},
            )
    batch_ids = select(Batch.id).where(Batch.resource_code == code)
    for q in session.scalars(select(QuarantineRow).where(QuarantineRow.batch_id.in_(batch_ids))):
        q.value, q.raw = None, None


def deidentify_items(
    session: Session,
    resource_code: str,
    items: list[str],
    method: str = "hash",
    *,
    key: bytes | None = None,
    reason: str = "",
) -> int:
    """R21 R22: replace the values of `items` in every record by keyed hashes (text; the key item is
    always hashed, so records stay distinct) or masks; other types are withheld. Each record's change is
    recorded in its history (without the values before); earlier history and quarantine are scrubbed.
    `key` defaults to a fresh random key that is not kept: the treatment cannot be reversed."""
    import secrets

    res = get_resource(session, resource_code)
    by_name = {str(i["name"]): i for i in res.items}
    unknown = [i for i in items if i not in by_name]
    if method not in TREATMENT_METHODS or unknown or not items:
        raise ValidationFailed(
            "store.treatment_invalid",
            f"处理方式或信息项无效：{'、'.join(unknown) or method}",
            f"Invalid treatment method or items: {', '.join(unknown) or method}",
            details={"unknown": unknown, "method": method},
        )
    key = key or secrets.token_bytes(32)
    table = table_of(res)
    pk = table.c[res.key_item]
    new_keys: dict[str, str] = {}
    for row in list(session.execute(select(*(table.c[n] for n in {res.key_item, *items})))):
        values = row._mapping
        new = {n: _treated(values[n], by_name[n], method, key, n == res.key_item) for n in items}
        session.execute(table.update().where(pk == values[res.key_item]).values(**new))
        new_keys[str(values[res.key_item])] = str(new.get(res.key_item, values[res.key_item]))
    session.flush()
    rekeyed = new_keys if res.key_item in items else None
    _scrub_history_and_quarantine(session, resource_code, set(items), rekeyed)
    for new_key in new_keys.values():
        session.add(
            RecordHistory(
                resource_code=resource_code,
                record_key=new_key,
                op="update",
                before=None,
                after={"treatment": method, "items": list(items), "reason": reason},
            )
        )
    treated = len(new_keys)
    record(
        session,
        None,
        "store.deidentify",
        object_type="resource",
        object_id=resource_code,
        detail={"items": list(items), "method": method, "records": treated, "reason": reason},
    )
    return treated


def purge_rows(session: Session, resource_code: str, *, reason: str) -> int:
    """R21: delete every record of a resource (security treatment by deletion); one history entry records
    the deletion, and earlier history and quarantine lose their values."""
    res = get_resource(session, resource_code)
    result: CursorResult[Any] = session.execute(table_of(res).delete())  # type: ignore[assignment]
    deleted = result.rowcount or 0
    res.row_count = 0
    _scrub_history_and_quarantine(session, resource_code, None, {})
    session.add(
        RecordHistory(
            resource_code=resource_code,
            record_key="*",
            op="delete",
            before=None,
            after={"treatment": "delete", "records": deleted, "reason": reason},
        )
    )
    session.flush()
    record(
        session,
        None,
        "store.purge",
        object_type="resource",
        object_id=resource_code,
        detail={"records": deleted, "reason": reason},
    )
    return int(deleted)


@dataclass(frozen=True)
class ResourceShape:
    """What the safe query engine needs of a provisioned resource: its table, key and items (as the JSON
    text stored, which also keys the engine's kept statements: read as text, not decoded on every call)."""

    table_name: str
    key_item: str
    items_json: str


_SHAPE = select(StoreResource.table_name, StoreResource.key_item, cast(StoreResource.items, Text)).where(
    StoreResource.resource_code == bindparam("code")
)


def resource_shape(session: Session, resource_code: str) -> ResourceShape:
    """R19: the provisioned resource's table, key and items, with one read of its row (no ORM object),
    or the same precise 404 as `get_resource`."""
    row = core_connection(session).execute(_SHAPE, {"code": resource_code}).first()
    if row is None:
        get_resource(session, resource_code)  # raises its 404
    assert row is not None
    return ResourceShape(row[0], row[1], str(row[2]))
