"""R7 R9 R10: the data store — provisioning on publication, the schema lock, atomic full loads,
incremental upserts and deletes with history, failures that leave nothing half-done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, ITEMS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file, ingest_source
from gongshu.aggregation.readers import Source, read_csv
from gongshu.kernel import timeutil
from gongshu.kernel.db import get_engine, read_scope, session_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.timeutil import now
from gongshu.store import batches, tables
from gongshu.store import service as store
from gongshu.store.models import Batch


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    entry = publish(session, c)
    out = entry.resource_code
    session.rollback()
    return out


def _csv(tmp: Path, rows: list[str], name: str = "data.csv") -> Path:
    return write(tmp, name, HEADER + "\n" + "\n".join(rows) + "\n")


def _names(url: str, code: str) -> dict[str, str]:
    with read_scope(url) as s:
        return {r["id_number"]: r["full_name"] for r in store.rows(s, code)}


def _key_columns(engine: Any, table: str) -> list[str]:
    """R10: the columns that key a resource's table — its primary key on PostgreSQL; on SQLite, the
    named unique index `store.tables.create` makes (the one a first load drops and builds again)."""
    found = inspect(engine)
    if engine.dialect.name != "sqlite":
        return list(found.get_pk_constraint(table)["constrained_columns"])
    assert found.get_pk_constraint(table)["constrained_columns"] == []
    index = {i["name"]: i for i in found.get_indexes(table)}[tables.key_index_name(table)]
    assert index["unique"]
    return list(index["column_names"])


def test_r7_r10_publication_provisions_a_typed_table_keyed_by_id_number(db_clean: str, code: str) -> None:
    with read_scope(db_clean) as s:
        res = store.get_resource(s, code)
        assert res.key_item == "id_number" and [i["name"] for i in res.items] == [i["name"] for i in ITEMS]
        assert not store.has_data(s, code)
        table = res.table_name
    cols = {c["name"]: c for c in inspect(get_engine(db_clean)).get_columns(table)}
    assert {"_batch_id", "_source", "_source_row", "_ingested_at", "_updated_at", "_row_hash"} <= set(cols)
    assert (
        "INT" in str(cols["children"]["type"]).upper()
        and "DATE" in str(cols["registered_on"]["type"]).upper()
    )
    assert _key_columns(get_engine(db_clean), table) == ["id_number"]
    assert cols["id_number"]["nullable"] is False


def test_r9_schema_lock_refuses_with_the_column_diff_and_stores_nothing(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "x.csv", f"id_number,full_name,registered_on,children,allowance,colour\n{IDS[0]},a,,,,red\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        ingest_file(c["civil_clerk"], code, path, url=db_clean)
    assert exc.value.code == "store.schema_mismatch"
    assert exc.value.details == {"missing": ["active"], "unexpected": ["colour"]}
    assert "active" in exc.value.message_zh and "colour" in exc.value.message_en
    with read_scope(db_clean) as s:
        assert s.scalar(select(Batch)) is None and store.count(s, code) == 0


def test_r9_chinese_labels_are_aliases_of_the_item_names(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "zh.csv",
        f"身份证号码,姓名,登记日期,子女数,补助金额,是否有效\n{IDS[0]},张三,2024-01-02,1,2.5,是\n",
    )
    report = ingest_file(c["civil_clerk"], code, path, url=db_clean)
    assert report["accepted"] == 1 and _names(db_clean, code) == {IDS[0]: "张三"}
    with read_scope(db_clean) as s:
        assert store.has_data(s, code)


def test_r7_full_load_is_atomic_for_readers_and_keeps_history(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    ingest_file(
        c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,,,,", f"{IDS[1]},乙,,,,"]), url=db_clean
    )
    seen: list[dict[str, str]] = []
    new = _csv(tmp_path, [f"{IDS[1]},乙二,,,,", f"{IDS[2]},丙,,,,"], "v2.csv")
    report = ingest_file(
        c["civil_clerk"], code, new, url=db_clean, before_commit=lambda: seen.append(_names(db_clean, code))
    )
    assert seen == [{IDS[0]: "甲", IDS[1]: "乙"}]  # a reader during the load sees the old data, whole
    assert _names(db_clean, code) == {IDS[1]: "乙二", IDS[2]: "丙"}
    assert (report["inserted"], report["updated"], report["deleted"]) == (1, 1, 1)
    with read_scope(db_clean) as s:
        assert [h.op for h in store.history(s, code, IDS[0])] == ["insert", "delete"]
        [_, upd] = store.history(s, code, IDS[1])
        assert upd.op == "update" and upd.before["full_name"] == "乙" and upd.after["full_name"] == "乙二"
        assert upd.batch_id == report["id"] and upd.actor_user_id == c["civil_clerk"].user_id
        assert store.get_resource(s, code).row_count == 2


def test_r7_incremental_upserts_and_deletes_by_key_with_history(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    ingest_file(
        c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,,,,", f"{IDS[1]},乙,,,,"]), url=db_clean
    )
    inc = _csv(tmp_path, [f"{IDS[0]},甲改,,,,", f"{IDS[2]},丙,,,,", f"{IDS[3]},丁,,,,"], "inc.csv")
    report = ingest_file(
        c["civil_clerk"], code, inc, mode="incremental", delete_keys=[f" {IDS[1].lower()} "], url=db_clean
    )
    assert (report["inserted"], report["updated"], report["deleted"]) == (2, 1, 1)
    assert _names(db_clean, code) == {IDS[0]: "甲改", IDS[2]: "丙", IDS[3]: "丁"}
    with read_scope(db_clean) as s:
        [_, upd] = store.history(s, code, IDS[0])
        assert (upd.before["full_name"], upd.after["full_name"]) == ("甲", "甲改")
        [_, gone] = store.history(s, code, IDS[1])
        assert gone.op == "delete" and gone.before["full_name"] == "乙" and gone.after is None
    unchanged = ingest_file(c["civil_clerk"], code, inc, mode="incremental", url=db_clean)
    assert (unchanged["inserted"], unchanged["updated"]) == (0, 0)  # same row hash: no change, no history


def test_r7_incremental_load_keeps_when_a_record_came_and_stamps_when_it_changed(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """The lineage of a staged load (on PostgreSQL its constants travel as the staging table's column
    defaults): an updated record keeps its first "ingested at" and takes the new batch and "updated at";
    a new record has both times of its batch; no default is left on the resource's table."""
    first_at, second_at = dt.datetime(2026, 3, 2, 9, 0), dt.datetime(2026, 3, 3, 10, 30)
    timeutil.freeze(first_at)
    ingest_file(
        c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,,,,", f"{IDS[1]},乙,,,,"]), url=db_clean
    )
    timeutil.freeze(second_at)
    inc = _csv(tmp_path, [f"{IDS[0]},甲改,,,,", f"{IDS[2]},丙,,,,"], "inc.csv")
    report = ingest_file(c["civil_clerk"], code, inc, mode="incremental", url=db_clean)
    with read_scope(db_clean) as s:
        table = store.get_resource(s, code).table_name
    engine = get_engine(db_clean)
    with engine.connect() as conn:
        got = {
            k: (batch, source, str(ingested)[:16], str(updated)[:16])
            for k, batch, source, ingested, updated in conn.execute(
                text(f"SELECT id_number, _batch_id, _source, _ingested_at, _updated_at FROM {table}")
            )
        }
    one, two = "2026-03-02 01:00", "2026-03-03 02:30"  # stored in UTC
    assert got[IDS[0]] == (report["id"], "upload", one, two)
    assert got[IDS[2]] == (report["id"], "upload", two, two)
    assert got[IDS[1]][2:] == (one, one) and got[IDS[1]][0] != report["id"]
    assert all(col["default"] is None for col in inspect(engine).get_columns(table))


def test_r9_a_change_of_the_keys_length_rebuilds_the_table_keyed(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R9 R10: the key's column cannot be emptied and retyped in place (it is the primary key): an
    approved change of its type or length gives a new, empty, keyed table, loaded again afterwards."""
    ingest_file(c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,,,,"]), url=db_clean)
    items = [dict(i, seq=n, label_en="", sensitivity="public") for n, i in enumerate(ITEMS)]
    items[0]["length"] = 20
    for i in items:
        i.setdefault("is_key", False)
        i.setdefault("length", None)
    entry = SimpleNamespace(
        resource_code=code, subject_kind="person", items=[SimpleNamespace(**i) for i in items]
    )
    res = store.provision(session, entry)
    session.commit()
    assert res.schema_version == 2 and res.row_count == 0
    table = res.table_name
    engine = get_engine(db_clean)
    assert _key_columns(engine, table) == ["id_number"]
    report = ingest_file(
        c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[1]},乙,,,,"], "again.csv"), url=db_clean
    )
    assert report["accepted"] == 1 and _names(db_clean, code) == {IDS[1]: "乙"}


def test_r7_a_failure_mid_load_keeps_the_previous_data_and_fails_the_batch(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    ingest_file(c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,,,,"]), url=db_clean)
    src = read_csv(_csv(tmp_path, [f"{IDS[n]},新{n},,,," for n in range(6)], "big.csv"), batch_rows=2)

    def broken() -> Iterator[tuple[pa.RecordBatch, int]]:
        for n, chunk in enumerate(src.chunks):
            if n == 1:
                raise RuntimeError("disk unplugged")
            yield chunk

    with pytest.raises(RuntimeError):
        ingest_source(
            c["civil_clerk"], code, Source(src.columns, src.encoding, "csv", broken()), url=db_clean
        )
    assert _names(db_clean, code) == {IDS[0]: "甲"}
    with read_scope(db_clean) as s:
        last = batches.of_resource(s, code)[0]
        # failed in plain words; the exception's own text goes to the log, never to the provider
        assert last.status == "failed" and last.error["code"] == "ingest.failed"  # type: ignore[index]
        assert "disk unplugged" not in str(last.error)
        assert batches.quarantine_count(s, last.id) == 0
        assert store.get_resource(s, code).last_batch_id != last.id


def test_r7_batches_left_loading_are_failed_at_recovery(db_clean: str, c: dict[str, Any], code: str) -> None:
    with session_scope(db_clean) as s:
        dead = batches.start(s, c["civil_clerk"], code, mode="full", source="upload")
        alive = batches.start(s, c["civil_clerk"], code, mode="full", source="upload")
        dead.started_at = now() - dt.timedelta(hours=2)
        alive.started_at, alive.heartbeat_at = now() - dt.timedelta(hours=2), now()
        ids = (dead.id, alive.id)
    with session_scope(db_clean) as s:
        assert batches.recover_stale_batches(s) == [ids[0]]
    with read_scope(db_clean) as s:
        assert batches.get(s, ids[0]).status == "failed" and batches.get(s, ids[1]).status == "loading"


def test_r7_an_idempotency_key_loads_once(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = _csv(tmp_path, [f"{IDS[0]},甲,,,,"])
    first = ingest_file(c["civil_clerk"], code, path, idempotency_key="push-1", url=db_clean)
    again = ingest_file(c["civil_clerk"], code, path, idempotency_key="push-1", url=db_clean)
    assert again["id"] == first["id"]
    with read_scope(db_clean) as s:
        assert len(batches.of_resource(s, code)) == 1


def test_r9_an_approved_change_of_items_migrates_the_table(
    session: Session, db_clean: str, code: str
) -> None:
    items = [dict(i, seq=n) for n, i in enumerate(ITEMS) if i["name"] != "active"]
    items.append(
        {
            "name": "district",
            "label_zh": "区",
            "data_type": "string",
            "length": 30,
            "seq": 99,
            "label_en": "",
            "is_key": False,
            "sensitivity": "public",
        }
    )
    entry = SimpleNamespace(
        resource_code=code, subject_kind="person", items=[SimpleNamespace(**i) for i in items]
    )
    for i in entry.items:
        for k in ("label_en", "is_key", "sensitivity", "length"):
            setattr(i, k, getattr(i, k, None) if k != "is_key" else getattr(i, k, False))
    res = store.provision(session, entry)
    session.commit()
    cols = {col["name"] for col in inspect(get_engine(db_clean)).get_columns(res.table_name)}
    assert "district" in cols and "active" not in cols and res.schema_version == 2


def test_r7_published_entries_without_a_table_get_one(db_clean: str, code: str) -> None:
    from gongshu.store.jobs import recover_stale_batches_job

    with session_scope(db_clean) as s:
        s.delete(store.get_resource(s, code))
    with session_scope(db_clean) as s:
        recover_stale_batches_job(s)
    with read_scope(db_clean) as s:
        assert store.get_resource(s, code).key_item == "id_number" and store.count(s, code) == 0


def test_r13_history_of_a_wide_resource_keeps_every_item(
    session: Session, db_clean: str, c: dict[str, Any], tmp_path: Path
) -> None:
    wide = [ITEMS[0]] + [{"name": f"f{n}", "label_zh": f"字段{n}", "data_type": "string"} for n in range(45)]
    code = publish(session, c, items=wide, category_code="A01-02-03-06").resource_code
    session.rollback()
    header = ",".join(i["name"] for i in wide)
    path = write(
        tmp_path, "wide.csv", header + "\n" + IDS[0] + "," + ",".join(str(n) for n in range(45)) + "\n"
    )
    ingest_file(c["civil_clerk"], code, path, url=db_clean)
    with read_scope(db_clean) as s:
        [h] = store.history(s, code, IDS[0])
        assert h.after is not None and len(h.after) == 46 and h.after["f44"] == "44"
