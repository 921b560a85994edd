"""R7 R13 R14 R19: the first full load into an empty resource goes straight into its table in one
transaction and records one `load` event — yet every record's history still tells its insert, duplicates
across chunks still keep the last occurrence (earlier ones quarantined), and followers of the change feed
(streams, database tables) still end with every row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.checker import Reopen, row_hash
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import config
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.access.service import DataDecision
from gongshu.kernel.db import get_engine, read_scope, session_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.timeutil import now
from gongshu.sharing import db_table, streams
from gongshu.store import service as store
from gongshu.store import tables
from gongshu.store.loader import LOAD_OP
from gongshu.store.models import Batch, QuarantineRow, RecordHistory


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _csv(tmp: Path, rows: list[str], name: str = "data.csv") -> Path:
    return write(tmp, name, HEADER + "\n" + "\n".join(rows) + "\n")


def _events(url: str, code: str) -> list[tuple[str, str]]:
    with read_scope(url) as s:
        stmt = select(RecordHistory.op, RecordHistory.record_key).where(RecordHistory.resource_code == code)
        return [(op, key) for op, key in s.execute(stmt.order_by(RecordHistory.id))]


def test_r13_first_full_load_records_one_load_event_and_each_record_history_tells_its_insert(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    rows = [f"{IDS[0]},甲,2024-01-02,1,2.5,是", f"{IDS[1]},乙,2024-01-03,0,,否", f"{IDS[2]},丙,,2,10.25,是"]
    report = ingest_file(c["civil_clerk"], code, _csv(tmp_path, rows), url=db_clean)
    assert (report["status"], report["inserted"], report["accepted"]) == ("committed", 3, 3)
    assert _events(db_clean, code) == [(LOAD_OP, "*")]  # one event for the batch, not one per record
    with read_scope(db_clean) as s:
        h = store.history(s, code, IDS[1])
        assert [(e.op, e.batch_id) for e in h] == [("insert", report["id"])]
        assert h[0].after is not None and h[0].after["full_name"] == "乙" and h[0].before is None
        assert store.history(s, code, IDS[5]) == []  # not in the load: no history

    # An incremental change afterwards: the insert is still told, from the update's values before.
    inc = [f"{IDS[1]},乙改,2024-01-03,0,,否", f"{IDS[3]},丁,2024-02-01,0,1,否"]
    second = ingest_file(
        c["civil_clerk"], code, _csv(tmp_path, inc, "b.csv"), mode="incremental", url=db_clean
    )
    assert (second["inserted"], second["updated"]) == (1, 1)
    with read_scope(db_clean) as s:
        h = store.history(s, code, IDS[1])
        assert [e.op for e in h] == ["insert", "update"]
        assert h[0].batch_id == report["id"] and h[0].after == h[1].before
        assert h[0].after is not None and h[0].after["full_name"] == "乙"
        assert h[1].after is not None and h[1].after["full_name"] == "乙改"
        assert [e.op for e in store.history(s, code, IDS[3])] == ["insert"]  # an explicit insert event
        assert [e.op for e in store.history(s, code, IDS[0])] == ["insert"]  # from the row's lineage

    # A second full load (the table is not empty) records every change one by one, as before.
    third = ingest_file(c["civil_clerk"], code, _csv(tmp_path, rows[:1], "c.csv"), url=db_clean)
    assert third["deleted"] == 3
    with read_scope(db_clean) as s:
        assert [e.op for e in store.history(s, code, IDS[2])] == ["insert", "delete"]
        assert [e.op for e in store.history(s, code, IDS[0])] == ["insert"]  # unchanged: no event


def test_r13_first_full_load_keeps_the_last_occurrence_of_a_key_across_chunks(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    rows = [
        f"{IDS[0]},甲一,2024-01-02,1,2.5,是",  # source row 2: displaced by row 6
        f"{IDS[1]},乙,2024-01-03,0,,否",
        f"{IDS[2]},丙一,,2,10.25,是",  # source row 4: displaced by row 5 (same chunk)
        f"{IDS[2]},丙二,,2,10.25,是",
        f"{IDS[0]},甲二,2024-01-02,1,2.5,是",
        f"{IDS[3]},丁,2024-01-05,0,1,否",
    ]
    report = ingest_file(c["civil_clerk"], code, _csv(tmp_path, rows), batch_rows=2, url=db_clean)
    assert (report["received"], report["accepted"], report["deduplicated"]) == (6, 4, 2)
    assert report["inserted"] == 4
    with read_scope(db_clean) as s:
        names = {r["id_number"]: r["full_name"] for r in store.rows(s, code)}
        assert names == {IDS[0]: "甲二", IDS[1]: "乙", IDS[2]: "丙二", IDS[3]: "丁"}
        q = s.scalars(select(QuarantineRow).where(QuarantineRow.batch_id == report["id"])).all()
        assert sorted((r.source_row, r.rule, r.value) for r in q) == [
            (2, "duplicate_key", IDS[0]),
            (4, "duplicate_key", IDS[2]),
        ]
        assert all(r.raw and r.raw["full_name"] in ("甲一", "丙一") for r in q)
        assert store.get_resource(s, code).row_count == 4


def test_r7_a_refused_first_load_leaves_the_table_empty_and_keyed(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    bad = [f"{IDS[0]},甲,2024-01-02,1,2.5,是", "110101199003070000,乙,2024-01-03,0,,否"]
    report = ingest_file(c["civil_clerk"], code, _csv(tmp_path, bad), url=db_clean)
    assert (report["accepted"], report["refused"]) == (1, 1)
    # A failure half-way (here: the final hook) leaves nothing, and the next load is still a first load.
    with read_scope(db_clean) as s:
        before = store.count(s, code)

    def boom() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ingest_file(
            c["civil_clerk"],
            code,
            _csv(tmp_path, [f"{IDS[4]},戊,,,,"], "x.csv"),
            url=db_clean,
            before_commit=boom,
        )
    with read_scope(db_clean) as s:
        assert store.count(s, code) == before == 1
        n = s.scalar(
            select(func.count()).select_from(RecordHistory).where(RecordHistory.resource_code == code)
        )
        assert n == 1


def test_r19_a_stream_gets_a_first_load_as_one_event_without_records(
    db_clean: str, session: Session, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    ingest_file(c["civil_clerk"], code, _csv(tmp_path, [f"{IDS[0]},甲,2024-01-02,1,2.5,是"]), url=db_clean)
    decision = DataDecision(
        allowed=True,
        reason="",
        items=("id_number", "full_name"),
        row_filter={"full_name": ["乙"]},  # a row filter does not hide the announcement
        scenario="核验",
        basis="grant",
    )
    with read_scope(db_clean) as s:
        (change,) = store.changes_since(s, code, 0)
        event = streams.project(change, decision, "id_number")
    assert event is not None and (event.op, event.key, event.record) == (LOAD_OP, None, {})


def test_r19_a_db_table_follower_takes_the_rows_whole_after_a_first_load(
    db_clean: str,
    session: Session,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config.get_settings(), "external_sqlite_dirs", [tmp_path])  # R19: SQLite targets here
    g = create_grant(
        session,
        SYSTEM,
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=["id_number", "full_name"],
        scenario="婚姻状况核验",
        delivery_method="db_table",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    session.commit()
    target = f"sqlite:///{tmp_path / 'consumer.db'}"
    with session_scope(db_clean) as s:
        target_id = db_table.register_target(s, c["police_clerk"], g.id, target, "marriage").id
    first = db_table.sync(c["police_clerk"], target_id, url=db_clean)  # the empty table
    assert (first.full, first.upserted) == (True, 0)
    rows = [f"{IDS[0]},甲,2024-01-02,1,2.5,是", f"{IDS[1]},乙,2024-01-03,0,,否"]
    ingest_file(c["civil_clerk"], code, _csv(tmp_path, rows), url=db_clean)
    second = db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (second.status, second.full, second.upserted) == ("synced", True, 2)
    third = db_table.sync(c["police_clerk"], target_id, url=db_clean)  # nothing new: incremental again
    assert (third.full, third.upserted) == (False, 0)


def test_r13_a_file_checked_in_a_worker_process_loads_exactly_as_in_process(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    rows = [
        f"{IDS[0]},甲一,2024-01-02,1,2.5,是",
        "110101199003070000,坏,2024-01-03,0,,否",  # a wrong check digit: refused
        f"{IDS[2]},丙,2024年1月5日,２,10.25,是",  # transforms: date and full-width digit
        f"{IDS[0]},甲二,2024-01-02,1,2.5,是",  # displaces row 2
        f"{IDS[3]},丁,2024-01-05,0,1,否",
    ]
    path = _csv(tmp_path, rows)
    where = Reopen(str(path), "utf-8", "csv", 2)
    report = ingest_file(c["civil_clerk"], code, path, batch_rows=2, reopen=where, url=db_clean)
    assert (report["received"], report["accepted"], report["refused"], report["deduplicated"]) == (5, 3, 1, 1)
    with read_scope(db_clean) as s:
        got = {
            r["id_number"]: (r["full_name"], str(r["registered_on"]), r["children"])
            for r in store.rows(s, code)
        }
        assert got == {
            IDS[0]: ("甲二", "2024-01-02", 1),
            IDS[2]: ("丙", "2024-01-05", 2),
            IDS[3]: ("丁", "2024-01-05", 0),
        }
        q = s.scalars(select(QuarantineRow).where(QuarantineRow.batch_id == report["id"])).all()
        assert sorted((r.source_row, r.column, r.rule) for r in q)[0] == (2, "id_number", "duplicate_key")
        assert sorted((r.source_row, r.column) for r in q)[1] == (3, "id_number")
        assert len(q) == 2
        table = store.get_resource(s, code).table_name
    # The lineage is the same whoever hashed the rows (the worker on SQLite, the loader on PostgreSQL) and
    # however the constant columns were written (column defaults during a PostgreSQL COPY): the hash of
    # the canonical values, the source row, one batch, source and time — and no default left behind.
    engine = get_engine(db_clean)
    with engine.connect() as conn:
        lineage = {
            r[0]: r[1:]
            for r in conn.execute(
                text(
                    f"SELECT id_number, _row_hash, _source_row, _batch_id, _source, _ingested_at, _updated_at "
                    f"FROM {table}"
                )
            )
        }
    assert {k: v[:2] for k, v in lineage.items()} == {
        IDS[0]: (row_hash((IDS[0], "甲二", "2024-01-02", "1", "2.5", "1")), 5),
        IDS[2]: (row_hash((IDS[2], "丙", "2024-01-05", "2", "10.25", "1")), 4),
        IDS[3]: (row_hash((IDS[3], "丁", "2024-01-05", "0", "1", "0")), 6),
    }
    assert len({v[2:] for v in lineage.values()}) == 1
    assert next(iter(lineage.values()))[2:4] == (report["id"], "upload")
    assert all(col["default"] is None for col in inspect(engine).get_columns(table))


def test_r7_a_malformed_row_found_by_the_worker_process_stores_nothing(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    # Past the first 4 MB block (which the loader reads itself, to check the columns): the worker finds it.
    ids = [
        make_id_number("350203", dt.date(1980, 1, 1) + dt.timedelta(days=n // 900), n % 900)
        for n in range(90_000)
    ]
    rows = [f"{i},名字,2024-01-02,1,2.5,是" for i in ids] + [f"{IDS[6]},多,2024-01-02,1,2.5,是,x"]
    path = _csv(tmp_path, rows)
    assert path.stat().st_size > 4 << 20
    with pytest.raises(ValidationFailed) as err:
        ingest_file(
            c["civil_clerk"],
            code,
            path,
            batch_rows=20_000,
            reopen=Reopen(str(path), "utf-8", "csv", 20_000),
            url=db_clean,
        )
    assert err.value.code == "ingest.column_count" and "7" in err.value.message_zh
    with read_scope(db_clean) as s:
        assert store.count(s, code) == 0
        batch = s.scalars(select(Batch).where(Batch.resource_code == code)).one()
        assert batch.status == "failed" and batch.error and batch.error["code"] == "ingest.column_count"


def test_r10_a_first_load_builds_the_key_index_again_and_a_failed_one_keeps_it(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R10 R7: the first load drops the key's index and builds it once after the rows; a load that fails
    before its commit leaves the table keyed as it was, and after a load the key is unique again."""
    engine = get_engine(db_clean)
    with read_scope(db_clean) as s:
        table = store.get_resource(s, code).table_name

    def keyed() -> list[str]:
        found = inspect(engine)
        if engine.dialect.name == "sqlite":
            index = {i["name"]: i for i in found.get_indexes(table)}[tables.key_index_name(table)]
            return list(index["column_names"]) if index["unique"] else []
        return list(found.get_pk_constraint(table)["constrained_columns"])

    def boom() -> None:
        raise RuntimeError("disk full")

    rows = [f"{IDS[0]},甲,,,,", f"{IDS[1]},乙,,,,", f"{IDS[0]},甲二,,,,"]
    with pytest.raises(RuntimeError):
        ingest_file(
            c["civil_clerk"], code, _csv(tmp_path, rows), batch_rows=1, url=db_clean, before_commit=boom
        )
    assert keyed() == ["id_number"]
    with read_scope(db_clean) as s:
        assert store.count(s, code) == 0
    report = ingest_file(c["civil_clerk"], code, _csv(tmp_path, rows), batch_rows=1, url=db_clean)
    assert (report["inserted"], report["deduplicated"]) == (2, 1) and keyed() == ["id_number"]
    again = ingest_file(
        c["civil_clerk"],
        code,
        _csv(tmp_path, [f"{IDS[0]},甲三,,,,"], "y.csv"),
        mode="incremental",
        url=db_clean,
    )
    assert (again["inserted"], again["updated"]) == (0, 1)
    with read_scope(db_clean) as s:
        assert store.count(s, code) == 2
