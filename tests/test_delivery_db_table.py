"""R19 (database table), R26: the platform fills a consumer's table — real MariaDB, real PostgreSQL and a
SQLite file — with the granted items and rows, then applies exactly the store's changes; a revoked or
expired grant stops the next sync and writes nothing; the consumer's password is never stored in clear."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, external_sqlite_dirs, publish, store_city, write  # noqa: F401

from gongshu.aggregation import external_db
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import freeze, now
from gongshu.sharing import db_table
from gongshu.sharing.delivery_models import DbTarget
from gongshu.sharing.receipts import verify_receipt
from gongshu.web.app import create_app

MARIADB = os.environ.get("GONGSHU_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306")
PG = os.environ.get("GONGSHU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECRET = "Pw-" + uuid.uuid4().hex[:10]
GRANTED = ["id_number", "full_name", "registered_on", "allowance", "active"]  # not `children`


pytestmark = pytest.mark.usefixtures("external_sqlite_dirs")


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def consumer_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL as the consumer gives it, admin URL to read it back) of a fresh consumer database."""
    kind = str(request.param)
    name = f"gongshu_dt_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'consumer.db'}"
        yield url, url
        return
    if kind == "mariadb":
        admin = create_engine(MARIADB, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{SECRET}'"))
            conn.execute(text(f"GRANT ALL ON {name}.* TO '{name}'@'%'"))
        yield f"mysql+pymysql://{name}:{SECRET}@127.0.0.1:3306/{name}", f"{MARIADB}/{name}"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()
        return
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG.rsplit("/", 1)[0]
    yield f"{base}/{name}", f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


def _csv(tmp: Path, rows: list[str], name: str) -> Path:
    return write(tmp, name, HEADER + "\n" + "\n".join(rows) + "\n")


def _setup(
    session: Session,
    c: dict[str, Any],
    tmp: Path,
    url: str,
    entry: dict[str, Any] | None = None,
    **grant: Any,
) -> tuple[str, int]:
    """A published resource with three records and a db_table grant to the police (R17)."""
    code = publish(session, c, **(entry or {})).resource_code
    session.rollback()
    rows = [f"{IDS[0]},甲,2024-01-02,1,2.5,是", f"{IDS[1]},乙,2024-01-03,0,,否", f"{IDS[2]},丙,,2,10.25,是"]
    ingest_file(c["civil_clerk"], code, _csv(tmp, rows, "full.csv"), url=url)
    g = create_grant(
        session,
        SYSTEM,
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=grant.pop("items", GRANTED),
        scenario="婚姻状况核验",
        delivery_method=grant.pop("method", "db_table"),
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
        **grant,
    )
    session.commit()
    return code, g.id


def _register(url: str, c: dict[str, Any], grant_id: int, target_url: str, table: str = "marriage") -> int:
    with session_scope(url) as s:
        return db_table.register_target(s, c["police_clerk"], grant_id, target_url, table).id


def _consumer_rows(admin_url: str, table: str = "marriage") -> dict[str, dict[str, Any]]:
    engine = create_engine(admin_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return {r["id_number"]: r for r in rows}


def test_r19_db_table_full_then_exactly_the_incremental_changes(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, consumer_db: tuple[str, str]
) -> None:
    target_url, admin_url = consumer_db
    code, grant_id = _setup(session, c, tmp_path, db_clean)
    target_id = _register(db_clean, c, grant_id, target_url)

    first = db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (first.status, first.full, first.upserted, first.deleted) == ("synced", True, 3, 0)
    rows = _consumer_rows(admin_url)
    assert set(rows) == set(IDS[:3])
    assert set(rows[IDS[0]]) == set(GRANTED)  # the granted items only: no `children`
    assert rows[IDS[0]]["full_name"] == "甲" and str(rows[IDS[0]]["registered_on"]) == "2024-01-02"
    assert Decimal(str(rows[IDS[2]]["allowance"])) == Decimal("10.25") and bool(rows[IDS[0]]["active"])

    inc = [f"{IDS[0]},甲改,2024-01-02,1,2.5,是", f"{IDS[3]},丁,2024-02-01,0,1,否"]
    ingest_file(
        c["civil_clerk"],
        code,
        _csv(tmp_path, inc, "inc.csv"),
        mode="incremental",
        delete_keys=[IDS[1]],
        url=db_clean,
    )
    second = db_table.sync(SYSTEM, target_id, url=db_clean)  # the job's way: the platform for the consumer
    assert (second.full, second.upserted, second.deleted) == (False, 2, 1)
    assert second.from_change == first.to_change < second.to_change
    rows = _consumer_rows(admin_url)
    assert {k: r["full_name"] for k, r in rows.items()} == {IDS[0]: "甲改", IDS[2]: "丙", IDS[3]: "丁"}

    third = db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (third.upserted, third.deleted, third.to_change) == (0, 0, second.to_change)
    assert verify_receipt(second.receipt, second.rows_sm3.encode()).valid
    with read_scope(db_clean) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None and t.status == "active" and t.last_change_id == second.to_change
        assert t.rows_written == 5 and t.last_sync_at is not None
        reads = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read")))
        assert [e.detail["method"] for e in reads] == ["db_table"] * 3
        assert reads[1].grant_id == grant_id and reads[1].detail["upserted"] == 2


def test_r19_consumer_password_is_not_stored_in_clear(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    name = f"gongshu_dt_{uuid.uuid4().hex[:10]}"
    admin = create_engine(MARIADB, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{SECRET}'"))
        conn.execute(text(f"GRANT ALL ON {name}.* TO '{name}'@'%'"))
    try:
        _, grant_id = _setup(session, c, tmp_path, db_clean)
        target_id = _register(db_clean, c, grant_id, f"mysql+pymysql://{name}:{SECRET}@127.0.0.1:3306/{name}")
        with read_scope(db_clean) as s:
            raw = s.execute(text("SELECT * FROM delivery_db_target")).all()
            assert SECRET not in repr(raw)
            t = s.get(DbTarget, target_id)
            assert t is not None and t.password_enc and t.password_enc.startswith("sm4:1:")
        assert db_table.sync(c["police_clerk"], target_id, url=db_clean).upserted == 3
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()


def test_r19_r26_revoked_grant_stops_the_next_sync_and_writes_nothing(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    target_url = f"sqlite:///{tmp_path / 'consumer.db'}"
    code, grant_id = _setup(session, c, tmp_path, db_clean)
    target_id = _register(db_clean, c, grant_id, target_url)
    db_table.sync(c["police_clerk"], target_id, url=db_clean)
    with session_scope(db_clean) as s:
        revoke_grant(s, c["reviewer"], grant_id, reason="场景已结束", provider_org_id=c["civil"].id)
    ingest_file(
        c["civil_clerk"],
        code,
        _csv(tmp_path, [f"{IDS[5]},戊,,,,"], "i.csv"),
        mode="incremental",
        url=db_clean,
    )
    assert db_table.sync_due(db_clean) == {target_id: "stopped"}
    assert set(_consumer_rows(target_url)) == set(IDS[:3])  # nothing written after the revocation
    with read_scope(db_clean) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None and t.status == "stopped" and t.last_error["code"] == "access.grant_revoked"
        denied = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).one()
        assert denied.grant_id == grant_id and denied.detail["reason"] == "access.grant_revoked"
    assert db_table.claim_due(db_clean) == []  # a stopped target is no longer synced by the job


def test_r19_r26_expired_grant_stops_the_sync(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    target_id = _register(db_clean, c, grant_id, f"sqlite:///{tmp_path / 'consumer.db'}")
    freeze(now() + dt.timedelta(days=31))
    report = db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (report.status, report.reason, report.upserted) == ("stopped", "access.grant_expired", 0)


def test_r19_only_the_consumers_data_officer_registers_a_db_table_grant(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    target_url = f"sqlite:///{tmp_path / 'consumer.db'}"
    with pytest.raises(Forbidden) as other:
        _register(db_clean, {"police_clerk": c["civil_clerk"]}, grant_id, target_url)
    assert other.value.code == "delivery.not_consumer"
    target_id = _register(db_clean, c, grant_id, target_url)
    with pytest.raises(Forbidden):
        db_table.sync(c["civil_clerk"], target_id, url=db_clean)
    db_table.sync(c["police_clerk"], target_id, url=db_clean)
    with pytest.raises(Conflict):  # the platform creates (and owns) the table: an existing one is refused
        _register(db_clean, c, grant_id, target_url)


def test_r19_a_grant_row_filter_limits_the_rows_written(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    _, grant_id = _setup(
        session, c, tmp_path, db_clean, items=["full_name", "active"], row_filter={"active": [True]}
    )
    target_url = f"sqlite:///{tmp_path / 'consumer.db'}"
    target_id = _register(db_clean, c, grant_id, target_url)
    assert db_table.sync(c["police_clerk"], target_id, url=db_clean).upserted == 2
    engine = create_engine(target_url)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT * FROM marriage ORDER BY full_name")).mappings().all()
    engine.dispose()
    # The key is withheld by the grant: the consumer's key is a keyed hash, never the ID number.
    assert sorted(r["full_name"] for r in got) == ["丙", "甲"] and set(got[0]) == {
        "_record_ref",
        "full_name",
        "active",
    }
    assert all(r["_record_ref"] not in IDS for r in got)


def test_r19_the_job_claims_each_target_once_per_slot(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    target_id = _register(db_clean, c, grant_id, f"sqlite:///{tmp_path / 'consumer.db'}")
    assert db_table.claim_due(db_clean) == [target_id]
    assert db_table.claim_due(db_clean) == []  # claimed for this minute
    freeze(now() + dt.timedelta(minutes=2))
    assert db_table.sync_due(db_clean) == {target_id: "synced"}


def test_r16_r26_a_revoked_grant_stops_even_for_unconditional_data(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R16 lets a department obtain unconditional data directly, but a delivery runs under its grant: once
    the grant is revoked, the target stops."""
    entry = {"sharing_attribute": "unconditional", "sharing_conditions": []}
    _, grant_id = _setup(session, c, tmp_path, db_clean, entry=entry)
    target_id = _register(db_clean, c, grant_id, f"sqlite:///{tmp_path / 'consumer.db'}")
    with session_scope(db_clean) as s:
        revoke_grant(s, c["reviewer"], grant_id, reason="撤销", provider_org_id=c["civil"].id)
    report = db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (report.status, report.reason) == ("stopped", "access.grant_revoked")


def test_r19_delivery_page_registers_and_syncs_a_table(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    user = session.scalars(select(User).where(User.username == "police_clerk")).one()
    raw, ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    page = client.get("/sharing/delivery")
    assert (
        'data-testid="delivery-register-form"' in page.text
        and 'data-testid="delivery-targets-empty"' in page.text
    )
    target_url = f"sqlite:///{tmp_path / 'consumer.db'}"
    form = {"csrf_token": ws.csrf_token, "grant_id": str(grant_id), "url": target_url, "table": "1bad"}
    bad = client.post("/sharing/delivery/targets", data=form)
    assert bad.status_code == 422 and "delivery.table_invalid" in bad.text
    assert f'value="{target_url}"' in bad.text and 'value="1bad"' in bad.text  # the form as typed
    client.post("/sharing/delivery/targets", data={**form, "table": "marriage"})
    with read_scope(db_clean) as s:
        [target_id] = [t.id for t in db_table.targets_of(s, c["police"].id)]
    synced = client.post(f"/sharing/delivery/targets/{target_id}/sync", data={"csrf_token": ws.csrf_token})
    assert f'data-target="{target_id}" data-status="active"' in synced.text
    assert set(_consumer_rows(target_url)) == set(IDS[:3])


# ---- R19 security: the platform's own database and data folder, errors that do not leak, form errors ----

REFUSED = {"delivery.url_platform", "delivery.url_data_dir", "delivery.sqlite_form", "delivery.url_query"}
LEAKS = ("127.0.0.1", ":1/", "server at", "Connection refused", "10.0.0.7", "nobody", "Access denied")


def _platform_file(db_clean: str) -> Path:
    return Path(str(make_url(db_clean).database)).resolve()


def _platform_tables(db_clean: str) -> set[str]:
    engine = create_engine(db_clean)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _refused(db_clean: str, c: dict[str, Any], grant_id: int, url: str, table: str = "marriage") -> str:
    """Registration refused with a 4xx form error, nothing registered, no table written anywhere."""
    before = _platform_tables(db_clean)
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, grant_id, url, table)
    assert err.value.code in REFUSED | {"delivery.sqlite_links"}, (url, err.value.code)
    assert err.value.status_code == 422 and err.value.field == "url"
    with read_scope(db_clean) as s:
        assert db_table.targets_of(s, c["police"].id) == []
    assert _platform_tables(db_clean) == before
    return err.value.code


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("sqlite:///{p}", "delivery.url_platform"),
        ("sqlite:///{dotdot}", "delivery.url_platform"),
        ("sqlite:///{relative}", "delivery.url_platform"),
        ("sqlite:///{link}", "delivery.url_platform"),
        ("sqlite:///{hardlink}", "delivery.url_platform"),
        ("sqlite:///{p}-wal", "delivery.url_platform"),
        ("sqlite:///{p}-journal", "delivery.url_platform"),
        ("sqlite:///file:{p}?mode=rwc&uri=true", "delivery.sqlite_form"),
        ("sqlite:///file:{p}", "delivery.sqlite_form"),
        ("sqlite:///{p}?mode=rw", "delivery.sqlite_form"),
    ],
)
def test_r19_platform_database_refused_in_any_spelling(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, spelling: str, expected: str
) -> None:
    """R19 security: a target is written to — the platform's own SQLite database is refused however its
    path is written (and no table is created in it)."""
    if make_url(db_clean).get_backend_name() != "sqlite":
        pytest.skip("the platform runs on SQLite")
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    p = _platform_file(db_clean)
    link = tmp_path / "innocent.db"
    link.symlink_to(p)
    hardlink = tmp_path / "hard.db"
    os.link(p, hardlink)
    dotdot = f"{p.parent}/../{p.parent.name}/{p.name}"
    url = spelling.format(p=p, dotdot=dotdot, relative=os.path.relpath(p), link=link, hardlink=hardlink)
    assert _refused(db_clean, c, grant_id, url) == expected


def test_r19_platform_database_swapped_in_after_registration_is_refused_at_sync(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R19 security: every sync checks the target again — a registered file that has become a link to the
    platform's database is refused, nothing is written, and the target is marked failed."""
    if make_url(db_clean).get_backend_name() != "sqlite":
        pytest.skip("the platform runs on SQLite")
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    target = tmp_path / "consumer.db"
    target_id = _register(db_clean, c, grant_id, f"sqlite:///{target}", "user_account_copy")
    target.symlink_to(_platform_file(db_clean))
    before = _platform_tables(db_clean)
    with pytest.raises(GongshuError) as err:
        db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (err.value.code, err.value.status_code) == ("delivery.url_platform", 422)
    assert _platform_tables(db_clean) == before
    with read_scope(db_clean) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None and t.status == "failed" and t.last_error["code"] == "delivery.url_platform"


def test_r19_platform_server_database_refused(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R19 security: on PostgreSQL, the platform's own database is refused by URL (host aliases, default
    port, parameters that redirect the connection) and, reached by a name the URL check misses, by the
    identity its server gives — at registration and at every sync."""
    own = make_url(db_clean)
    if own.get_backend_name() != "postgresql":
        pytest.skip("the platform runs on PostgreSQL")
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    name, user = own.database, own.username
    for url in (
        f"postgresql://{user}@127.0.0.1:5432/{name}",
        f"postgresql://{user}@localhost/{name}",
        f"postgresql://{user}@[::1]:5432/{name}",
        f"postgresql+psycopg://{user}:x@127.0.0.1/{name}?sslmode=disable",
        f"postgresql://{user}@192.0.2.1/other?host=127.0.0.1&dbname={name}",
        f"postgresql://{user}@127.0.0.1/other?options=-csearch_path%3Dpublic",
    ):
        _refused(db_clean, c, grant_id, url)
    monkeypatch.setattr(external_db, "same_server_database", lambda *_: False)
    assert _refused(db_clean, c, grant_id, f"postgresql://{user}@127.0.0.1/{name}") == "delivery.url_platform"


def test_r19_files_of_the_data_folder_are_refused(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R19 security: no file inside the platform's data folder (keys, attachments) is a target — new or
    existing, directly, through a link, through a hard link, or swapped in after registration; nothing is
    created there."""
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    data = get_settings().data_dir.resolve()
    (data / "attachments").mkdir(parents=True, exist_ok=True)
    new = data / "attachments" / f"consumer-{uuid.uuid4().hex[:8]}.db"
    existing = data / "attachments" / f"existing-{uuid.uuid4().hex[:8]}.db"
    sqlite3.connect(existing).close()
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(new)
    hard = tmp_path / "hard.db"
    os.link(existing, hard)
    try:
        for url, code in (
            (f"sqlite:///{new}", "delivery.url_data_dir"),
            (f"sqlite:///{existing}", "delivery.url_data_dir"),
            (f"sqlite:///{data}", "delivery.url_data_dir"),
            (f"sqlite:///{data}/keys/../attachments/x.db", "delivery.url_data_dir"),
            (f"sqlite:///{dangling}", "delivery.url_data_dir"),
            (f"sqlite:///{hard}", "delivery.sqlite_links"),
        ):
            assert _refused(db_clean, c, grant_id, url) == code, url
        assert not new.exists() and not (data / "attachments" / "x.db").exists()
        outside = tmp_path / "consumer.db"
        target_id = _register(db_clean, c, grant_id, f"sqlite:///{outside}")
        outside.symlink_to(new)  # the registered (not yet created) file now leads into the data folder
        with pytest.raises(GongshuError) as err:
            db_table.sync(c["police_clerk"], target_id, url=db_clean)
        assert (err.value.code, err.value.status_code) == ("delivery.url_data_dir", 422)
        assert not new.exists()
    finally:
        existing.unlink()
        new.unlink(missing_ok=True)


def test_r19_sqlite_target_is_created_only_in_an_existing_folder_at_the_first_sync(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R19: a SQLite target may be a new file, but only in a folder that exists (outside the data folder);
    registration creates nothing, the first sync creates the file and its table."""
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    missing = tmp_path / "no_such_folder" / "consumer.db"
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, grant_id, f"sqlite:///{missing}")
    assert (err.value.code, err.value.status_code) == ("delivery.sqlite_folder", 422)
    assert not missing.parent.exists()
    folder = tmp_path / "consumer"
    folder.mkdir()
    (folder / "sub").mkdir()
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, grant_id, f"sqlite:///{folder / 'sub'}")  # a folder is not a database
    assert err.value.code == "delivery.sqlite_invalid"
    target = folder / "consumer.db"
    target_id = _register(db_clean, c, grant_id, f"sqlite:///{folder}/../consumer/./consumer.db")
    assert not target.exists()
    with read_scope(db_clean) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None and t.url == f"sqlite:///{target.resolve()}"
    assert db_table.sync(c["police_clerk"], target_id, url=db_clean).upserted == 3
    assert set(_consumer_rows(f"sqlite:///{target}")) == set(IDS[:3])


def _bad_target(kind: str, tmp_path: Path) -> str:
    if kind == "refused":
        return f"postgresql://postgres:{SECRET}@127.0.0.1:1/x"
    if kind == "password":
        return f"mysql+pymysql://nobody_{uuid.uuid4().hex[:6]}:{SECRET}@127.0.0.1:3306/x"
    if kind == "no_database":
        return f"{PG.rsplit('/', 1)[0]}/gongshu_none_{uuid.uuid4().hex[:8]}"
    if kind == "socket":
        return "mysql+pymysql://root@127.0.0.1:3306/x?unix_socket=/run/mysqld/mysqld.sock"
    path = tmp_path / "consumer.db"
    path.write_text("not a database, but reachable: 10.0.0.7:5432")
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("refused", "delivery.connect_failed"),
        ("password", "delivery.auth_failed"),
        ("no_database", "delivery.database_unknown"),
        ("not_sqlite", "delivery.sqlite_invalid"),
        ("socket", "delivery.url_query"),
    ],
)
def test_r19_database_errors_do_not_leak_the_driver_text(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, kind: str, expected: str
) -> None:
    """R19 security: a failed registration tells its kind (a stable code, Chinese and English), never the
    driver's text (which names internal hosts and ports), and is a form error (422, not 502)."""
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, grant_id, _bad_target(kind, tmp_path))
    e = err.value
    assert (e.code, e.status_code) == (expected, 422)
    shown = f"{e.message_zh} {e.message_en} {e.details}"
    for leak in (*LEAKS, "gongshu_none", "not a database, but", SECRET):
        assert leak not in shown, shown
    assert any("\u4e00" <= ch <= "\u9fff" for ch in e.message_zh)


def test_r19_sync_errors_do_not_leak_the_driver_text(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R19 security: a sync whose database is gone fails with a stable code kept on the target (status
    failed), without the driver's text, as a 4xx."""
    name = f"gongshu_dt_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _, grant_id = _setup(session, c, tmp_path, db_clean)
        target_id = _register(db_clean, c, grant_id, f"{PG.rsplit('/', 1)[0]}/{name}")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        with pytest.raises(GongshuError) as err:
            db_table.sync(c["police_clerk"], target_id, url=db_clean)
        e = err.value
        assert (e.code, e.status_code) == ("delivery.database_unknown", 422)
        assert name not in f"{e.message_zh} {e.message_en} {e.details}"
        with read_scope(db_clean) as s:
            t = s.get(DbTarget, target_id)
            assert t is not None and t.status == "failed" and t.last_error["code"] == e.code
            assert name not in repr(t.last_error) and "127.0.0.1" not in repr(t.last_error)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _page_client(session: Session) -> tuple[TestClient, str]:
    return page_client("police_clerk", session=session)


def test_r19_delivery_page_errors_are_form_errors(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    """R19: the page answers a refused connection or the platform's own database with a 4xx and the
    precise message, the form kept as typed but for the password, and no driver text."""
    _, grant_id = _setup(session, c, tmp_path, db_clean)
    client, csrf = _page_client(session)
    form = {
        "csrf_token": csrf,
        "grant_id": str(grant_id),
        "url": f"postgresql://dept:{SECRET}@127.0.0.1:1/x",
        "password": "Other-" + SECRET,
        "table": "marriage",
    }
    page = client.post("/sharing/delivery/targets", data=form)
    assert page.status_code == 422, page.status_code
    html = page.text
    refused = html.split('data-testid="delivery-refused"', 1)[1].split("</div>", 1)[0]
    assert "delivery.connect_failed" in refused and "无法连接接收单位的数据库" in refused
    assert "127.0.0.1" not in refused and "Connection refused" not in html
    assert SECRET not in html
    assert 'value="postgresql://dept@127.0.0.1:1/x"' in html and 'value="marriage"' in html
    assert f'<option value="{grant_id}" selected>' in html
    own = make_url(db_clean)
    if own.get_backend_name() == "sqlite":
        platform = f"sqlite:///{_platform_file(db_clean)}"
    else:
        platform = f"postgresql://{own.username}@localhost/{own.database}"
    page = client.post("/sharing/delivery/targets", data={**form, "url": platform, "password": ""})
    assert page.status_code == 422 and "delivery.url_platform" in page.text
    assert f'value="{platform}"' in page.text
    with read_scope(db_clean) as s:
        assert db_table.targets_of(s, c["police"].id) == []
