"""R7: scheduled pulls from departments' databases — real MariaDB, real PostgreSQL and a SQLite file: full
and incremental pulls (watermark), the password encrypted at rest, the schema lock at registration, and an
unreachable server failing precisely with the last run marked failed."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.aggregation import pull
from gongshu.aggregation.pull_models import PullSource
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.store import service as store
from gongshu.web.app import create_app

MARIADB = os.environ.get("GONGSHU_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306")
PG = os.environ.get("GONGSHU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECRET = "Pw-" + uuid.uuid4().hex[:10]
ITEMS_QUERY = "SELECT id_number, full_name, registered_on, children, allowance, active FROM src"


@dataclass
class SourceDb:
    kind: str
    url: str  # as the department would give it (with a password where the server takes one)
    admin: str

    def run(self, *sql: str) -> None:
        engine = create_engine(self.admin)
        with engine.begin() as conn:
            for stmt in sql:
                conn.execute(text(stmt))
        engine.dispose()


def _ddl(kind: str, name: str = "src") -> str:
    stamp = {"postgresql": "TIMESTAMP", "mariadb": "DATETIME", "sqlite": "TEXT"}[kind]
    return (
        f"CREATE TABLE {name} (id_number VARCHAR(18) PRIMARY KEY, full_name VARCHAR(20), registered_on DATE, "
        f"children INTEGER, allowance DECIMAL(10, 2), active BOOLEAN, updated_at {stamp})"
    )


def _row(i: int, name: str, at: str) -> str:
    return f"INSERT INTO src VALUES ('{IDS[i]}', '{name}', '2024-01-0{i + 1}', {i}, 2.50, TRUE, '{at}')"


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def src(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceDb]:
    kind = str(request.param)
    name = f"gongshu_pull_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'dept.db'}"
        db = SourceDb(kind, url, url)
    elif kind == "mariadb":
        admin = create_engine(MARIADB, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{SECRET}'"))
            conn.execute(text(f"GRANT SELECT ON {name}.* TO '{name}'@'%'"))
        db = SourceDb(kind, f"mysql+pymysql://{name}:{SECRET}@127.0.0.1:3306/{name}", f"{MARIADB}/{name}")
    else:
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = PG.rsplit("/", 1)[0]
        db = SourceDb(kind, f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}", f"{base}/{name}")
    db.run(_ddl(kind), _row(0, "张三", "2024-03-01 10:00:00"), _row(1, "李四", "2024-03-01 11:00:00"))
    yield db
    if kind == "mariadb":
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()
    elif kind == "postgresql":
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _register(db_url: str, c: dict[str, Any], code: str, url: str, table: str = "src", **kw: Any) -> int:
    args: dict[str, Any] = {"mode": "full", "watermark_column": None, "every_minutes": 30} | kw
    with session_scope(db_url) as s:
        return pull.register_pull(s, c["civil_clerk"], code, url, table, **args).id


def _names(db_url: str, code: str) -> dict[str, str]:
    with read_scope(db_url) as s:
        return {r["id_number"]: r["full_name"] for r in store.rows(s, code)}


def test_r7_full_pull_and_password_encrypted_at_rest(
    db_clean: str, c: dict[str, Any], code: str, src: SourceDb
) -> None:
    ps_id = _register(db_clean, c, code, src.url, ITEMS_QUERY)
    report = pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert (report["source"], report["status"], report["inserted"]) == ("pull", "committed", 2), report
    assert _names(db_clean, code) == {IDS[0]: "张三", IDS[1]: "李四"}
    with read_scope(db_clean) as s:
        raw = s.execute(text("SELECT * FROM aggregation_pull_source")).one()
        ps = s.get(PullSource, ps_id)
        assert ps is not None and ps.last_status == "committed" and ps.last_batch_id == report["id"]
        assert SECRET not in " ".join(str(v) for v in raw)
        if src.kind != "sqlite":
            assert ps.password_enc and ps.password_enc.startswith("sm4:") and SECRET not in ps.url


def test_r7_incremental_pull_reads_only_rows_past_the_watermark(
    db_clean: str, c: dict[str, Any], code: str, src: SourceDb
) -> None:
    ps_id = _register(db_clean, c, code, src.url, mode="incremental", watermark_column="updated_at")
    first = pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert first["received"] == 2
    src.run(
        _row(2, "王五", "2024-03-02 09:00:00"),
        f"UPDATE src SET full_name = '李四四', updated_at = '2024-03-02 10:00:00' WHERE id_number = '{IDS[1]}'",
    )
    second = pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert (second["mode"], second["received"], second["inserted"], second["updated"]) == (
        "incremental",
        2,
        1,
        1,
    )
    assert _names(db_clean, code) == {IDS[0]: "张三", IDS[1]: "李四四", IDS[2]: "王五"}
    with read_scope(db_clean) as s:
        ps = s.get(PullSource, ps_id)
        assert (
            ps is not None
            and ps.last_watermark is not None
            and ps.last_watermark.startswith("2024-03-02 10:00")
        )
    assert pull.run_pull(c["civil_clerk"], code, url=db_clean)["status"] == "no_changes"


def test_r9_schema_mismatch_is_refused_at_registration(
    db_clean: str, c: dict[str, Any], code: str, src: SourceDb
) -> None:
    src.run("CREATE TABLE other (id_number VARCHAR(18), colour VARCHAR(10))")
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, src.url, "other")
    assert err.value.code == "pull.schema_mismatch" and "colour" in err.value.details["unexpected"]
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, src.url, mode="incremental", watermark_column="changed_at")
    assert err.value.code == "pull.watermark_unknown"
    with read_scope(db_clean) as s:
        assert pull.pulls_of(s, code) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql+pymysql://root@127.0.0.1:1/x", "pull.connect_failed"),
        ("oracle://u:p@h/x", "pull.url_scheme"),
        ("not a url", "pull.url_invalid"),
    ],
)
def test_r7_registration_refusals(
    db_clean: str, c: dict[str, Any], code: str, url: str, expected: str
) -> None:
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, url)
    assert err.value.code == expected


def test_r7_unreachable_server_marks_the_last_run_failed(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    ps_id = _register(db_clean, c, code, url, ITEMS_QUERY)
    with session_scope(db_clean) as s:
        s.execute(
            update(PullSource).values(url=f"postgresql+psycopg://postgres@127.0.0.1:1/{uuid.uuid4().hex}")
        )
    with pytest.raises(GongshuError) as err:
        pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert err.value.code == "pull.connect_failed"
    with read_scope(db_clean) as s:
        ps = s.get(PullSource, ps_id)
        assert ps is not None and ps.last_status == "failed" and ps.last_error is not None
        assert ps.last_error["code"] == "pull.connect_failed" and ps.last_run_at is not None


def test_r7_due_pulls_run_once_per_slot(db_clean: str, c: dict[str, Any], code: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    ps_id = _register(db_clean, c, code, url, ITEMS_QUERY)
    assert pull.run_due_pulls(db_clean) == {ps_id: "committed"}
    assert pull.run_due_pulls(db_clean) == {}  # its next run is 30 minutes on
    with session_scope(db_clean) as s:
        s.execute(update(PullSource).values(next_run_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    assert pull.run_due_pulls(db_clean) == {ps_id: "committed"}


def test_r7_pull_source_pages(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    user = session.scalars(select(User).where(User.username == "civil_clerk")).one()
    raw, ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    assert 'data-testid="pull-sources-empty"' in client.get(f"/data/{code}/sources").text
    form = {
        "csrf_token": ws.csrf_token,
        "url": url,
        "table_or_query": ITEMS_QUERY,
        "mode": "full",
        "every_minutes": "15",
    }
    bad = client.post(f"/data/{code}/sources", data={**form, "table_or_query": "SELECT 1 AS colour"})
    assert bad.status_code == 422 and "pull.schema_mismatch" in bad.text and "colour" in bad.text
    done = client.post(f"/data/{code}/sources", data=form, follow_redirects=True)
    assert done.status_code == 200 and 'data-status="never"' in done.text
    with read_scope(db_clean) as s:
        ps_id = pull.pulls_of(s, code)[0].id
    ran = client.post(
        f"/data/{code}/sources/{ps_id}/run", data={"csrf_token": ws.csrf_token}, follow_redirects=True
    )
    assert ran.status_code == 200 and "/data/batches/" in str(ran.url)
    assert 'data-status="committed"' in client.get(f"/data/{code}/sources").text


def test_r7_the_pull_job_runs_through_the_jobs_runner(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    from gongshu.kernel.jobs.runner import run_due_jobs

    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    ps_id = _register(db_clean, c, code, url, ITEMS_QUERY)
    assert run_due_jobs(db_clean, only=["aggregation.run_due_pulls"]) == ["aggregation.run_due_pulls"]
    with read_scope(db_clean) as s:
        ps = s.get(PullSource, ps_id)
        assert ps is not None and ps.last_status == "committed" and ps.last_batch_id is not None
    assert _names(db_clean, code) == {IDS[0]: "张三"}
