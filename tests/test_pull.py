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
from page_fixtures import page_client
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from store_fixtures import IDS, external_sqlite_dirs, publish, store_city  # noqa: F401

from gongshu.aggregation import pull
from gongshu.aggregation.pull_models import PullSource
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.config import get_settings
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


pytestmark = pytest.mark.usefixtures("external_sqlite_dirs")


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


# ---- the platform's own database, missing files, errors that do not leak, pause/resume/delete ---------------

REFUSED = {"pull.url_platform", "pull.url_data_dir", "pull.sqlite_form", "pull.url_query"}


def _platform_file(db_clean: str) -> Path:
    return Path(str(make_url(db_clean).database))


def _assert_refused(db_clean: str, c: dict[str, Any], code: str, url: str, table: str = "src") -> str:
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, url, table)
    assert err.value.code in REFUSED, (url, err.value.code)
    with read_scope(db_clean) as s:
        assert pull.pulls_of(s, code) == []
    return err.value.code


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("sqlite:///file:{p}?mode=ro&uri=true", "pull.sqlite_form"),
        ("sqlite:///file:{p}", "pull.sqlite_form"),
        ("sqlite:///{p}?mode=ro", "pull.sqlite_form"),
        ("sqlite:///{p}", "pull.url_platform"),
        ("sqlite:///{dotdot}", "pull.url_platform"),
        ("sqlite:///{relative}", "pull.url_platform"),
        ("sqlite:///{link}", "pull.url_platform"),
    ],
)
def test_r7_platform_database_refused_in_any_spelling(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path, spelling: str, expected: str
) -> None:
    """R7 security: the platform's own SQLite database is refused however its path is written."""
    if make_url(db_clean).get_backend_name() != "sqlite":
        pytest.skip("the platform runs on SQLite")
    p = _platform_file(db_clean).resolve()
    link = tmp_path / "innocent.db"
    link.symlink_to(p)
    dotdot = f"{p.parent}/../{p.parent.name}/{p.name}"
    url = spelling.format(p=p, dotdot=dotdot, relative=os.path.relpath(p), link=link)
    assert _assert_refused(db_clean, c, code, url, "user_account") == expected


def test_r7_files_of_the_data_folder_are_refused(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R7 security: no SQLite file inside the platform's data folder (keys, attachments) is a source —
    directly, or through a link that is swapped in after registration."""
    inside = get_settings().data_dir / "attachments" / f"dept-{uuid.uuid4().hex[:8]}.db"
    inside.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{inside}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    try:
        assert _assert_refused(db_clean, c, code, url, ITEMS_QUERY) == "pull.url_data_dir"
        outside = tmp_path / "dept.db"
        SourceDb("sqlite", f"sqlite:///{outside}", f"sqlite:///{outside}").run(
            _ddl("sqlite"), _row(1, "李四", "2024-03-01 10:00:00")
        )
        _register(db_clean, c, code, f"sqlite:///{outside}", ITEMS_QUERY)
        outside.unlink()
        outside.symlink_to(inside)  # the registered file now leads into the data folder
        with pytest.raises(GongshuError) as err:
            pull.run_pull(c["civil_clerk"], code, url=db_clean)
        assert err.value.code == "pull.url_data_dir"
        assert _names(db_clean, code) == {}
    finally:
        inside.unlink()


def test_r7_platform_server_database_refused(
    db_clean: str, c: dict[str, Any], code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R7 security: on PostgreSQL, the platform's own database is refused by URL (host aliases, default
    port, parameters that redirect the connection) and, reached by a name the URL check misses, by the
    identity the server gives."""
    own = make_url(db_clean)
    if own.get_backend_name() != "postgresql":
        pytest.skip("the platform runs on PostgreSQL")
    name, user = own.database, own.username
    for url in (
        f"postgresql://{user}@127.0.0.1:5432/{name}",
        f"postgresql://{user}@localhost/{name}",
        f"postgresql://{user}@[::1]:5432/{name}",
        f"postgresql://{user}:x@127.0.0.1/{name}?sslmode=disable",
        f"postgresql://{user}@192.0.2.1/other?host=127.0.0.1&dbname={name}",
    ):
        _assert_refused(db_clean, c, code, url, "user_account")
    monkeypatch.setattr(pull, "_same_server_database", lambda *_: False)
    assert _assert_refused(db_clean, c, code, f"postgresql://{user}@127.0.0.1/{name}", "user_account") == (
        "pull.url_platform"
    )


def test_r7_missing_sqlite_file_is_never_created(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R7: a SQLite source must exist; neither registration nor a run creates it (opened read-only)."""
    missing = tmp_path / "typo.db"
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, f"sqlite:///{missing}")
    assert err.value.code == "pull.sqlite_missing" and not missing.exists()
    real = tmp_path / "dept.db"
    url = f"sqlite:///{real}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    _register(db_clean, c, code, url, ITEMS_QUERY)
    real.unlink()
    with pytest.raises(GongshuError) as err:
        pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert err.value.code == "pull.sqlite_missing" and not real.exists()


def _bad_source(kind: str, tmp_path: Path) -> tuple[str, str]:
    if kind == "refused":
        return "postgresql://postgres:secret@127.0.0.1:1/x", "src"
    if kind == "password":
        return f"mysql+pymysql://nobody_{uuid.uuid4().hex[:6]}:{SECRET}@127.0.0.1:3306/x", "src"
    path = tmp_path / "dept.db"
    if kind == "not_sqlite":
        path.write_text("not a database, but reachable: 10.0.0.7:5432")
        return f"sqlite:///{path}", "src"
    SourceDb("sqlite", f"sqlite:///{path}", f"sqlite:///{path}").run(_ddl("sqlite"))
    return f"sqlite:///{path}", "no_such_table" if kind == "table" else "SELECT secret_col FROM src"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("refused", "pull.connect_failed"),
        ("password", "pull.auth_failed"),
        ("not_sqlite", "pull.sqlite_invalid"),
        ("table", "pull.not_found"),
        ("column", "pull.not_found"),
    ],
)
def test_r7_database_errors_do_not_leak_the_driver_text(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path, kind: str, expected: str
) -> None:
    """R7 security: a failure tells its kind (a stable code, Chinese and English), never the driver's text
    (which names internal hosts and ports), and is a form error (422)."""
    url, table = _bad_source(kind, tmp_path)
    with pytest.raises(GongshuError) as err:
        _register(db_clean, c, code, url, table)
    e = err.value
    assert (e.code, e.status_code) == (expected, 422)
    shown = f"{e.message_zh} {e.message_en} {e.details}"
    leaks = ("127.0.0.1", ":1", "server at", "Connection refused", "10.0.0.7", "no_such_table", "secret_col")
    for leak in (*leaks, "nobody", "Access denied", "not a database, but"):
        assert leak not in shown, shown
    assert any("\u4e00" <= ch <= "\u9fff" for ch in e.message_zh)


def _client(session: Session, username: str) -> tuple[TestClient, str]:
    return page_client(username, session=session)


def test_r7_pull_source_page_errors_are_form_errors(
    session: Session, db_clean: str, c: dict[str, Any], code: str
) -> None:
    """R7: the page answers a refused connection with 422 and the precise message, the form kept as typed
    but for the password, and no driver text."""
    client, csrf = _client(session, "civil_clerk")
    form = {
        "csrf_token": csrf,
        "url": f"postgresql://dept:{SECRET}@127.0.0.1:1/x",
        "password": "Other-" + SECRET,
        "table_or_query": "some_table",
        "mode": "full",
        "every_minutes": "15",
    }
    page = client.post(f"/data/{code}/sources", data=form)
    assert page.status_code == 422, page.status_code
    html = page.text
    refused = html.split('data-testid="pull-refused"', 1)[1].split("</div>", 1)[0]
    assert "pull.connect_failed" in refused and "无法连接部门数据库" in refused
    assert "127.0.0.1" not in refused and "Connection refused" not in html
    assert SECRET not in html
    assert 'value="postgresql://dept@127.0.0.1:1/x"' in html and 'value="some_table"' in html


def test_r7_pause_resume_reschedule_and_delete_pull_sources(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R7: the sources page pauses (the scheduled job skips it), resumes, changes the interval of and —
    after a confirmation — deletes a pull source; CSRF-protected, the provider's data officer only,
    every change audited."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    ps_id = _register(db_clean, c, code, url, ITEMS_QUERY)
    client, csrf = _client(session, "civil_clerk")
    other, other_csrf = _client(session, "police_clerk")
    base = f"/data/{code}/sources/{ps_id}"
    assert client.post(f"{base}/pause").status_code == 403  # no CSRF token
    assert other.post(f"{base}/pause", data={"csrf_token": other_csrf}).status_code == 403
    paused = client.post(f"{base}/pause", data={"csrf_token": csrf}, follow_redirects=True)
    assert paused.status_code == 200 and 'data-enabled="no"' in paused.text
    assert pull.run_due_pulls(db_clean) == {}  # paused: skipped by the scheduled job
    resumed = client.post(f"{base}/resume", data={"csrf_token": csrf}, follow_redirects=True)
    assert 'data-enabled="yes"' in resumed.text
    assert pull.run_due_pulls(db_clean) == {ps_id: "committed"}
    bad = client.post(f"{base}/schedule", data={"csrf_token": csrf, "every_minutes": "0"})
    assert bad.status_code == 422 and "pull.interval_invalid" in bad.text
    client.post(f"{base}/schedule", data={"csrf_token": csrf, "every_minutes": "240"})
    with read_scope(db_clean) as s:
        ps = s.get(PullSource, ps_id)
        assert ps is not None and ps.every_minutes == 240
    assert other.get(f"{base}/delete").status_code == 403
    confirm = client.get(f"{base}/delete")
    assert confirm.status_code == 200 and 'data-testid="pull-delete-form"' in confirm.text
    assert client.post(f"{base}/delete").status_code == 403
    assert other.post(f"{base}/delete", data={"csrf_token": other_csrf}).status_code == 403
    gone = client.post(f"{base}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert gone.status_code == 200 and 'data-testid="pull-sources-empty"' in gone.text
    assert client.post(f"{base}/resume", data={"csrf_token": csrf}).status_code == 404
    with read_scope(db_clean) as s:
        actions = s.scalars(
            select(AuditEntry.action).where(
                AuditEntry.object_type == "pull_source", AuditEntry.object_id == str(ps_id)
            )
        ).all()
    for action in ("pull_paused", "pull_resumed", "pull_rescheduled", "pull_deleted"):
        assert f"aggregation.{action}" in actions, actions


def test_r9_pausing_asks_an_optional_reason_and_every_change_is_confirmed(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R7 R9: "Pause" opens a confirmation asking an optional reason (kept in the audit entry's detail,
    at most PAUSE_REASON_MAX characters); after a pause, a resume, a change of interval, a run with
    nothing new or a removal the sources page says what was done — in the page's language."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    SourceDb("sqlite", url, url).run(_ddl("sqlite"), _row(0, "张三", "2024-03-01 10:00:00"))
    ps_id = _register(db_clean, c, code, url, mode="incremental", watermark_column="updated_at")
    client, csrf = page_client("civil_clerk", "en", session=session)
    base = f"/data/{code}/sources/{ps_id}"
    listing = client.get(f"/data/{code}/sources").text
    assert (
        f'href="{base}/pause" data-testid="pull-pause-link"' in listing
        and 'data-testid="pull-done"' not in listing
    )
    confirm = client.get(f"{base}/pause")
    assert confirm.status_code == 200 and 'data-testid="pull-pause-form"' in confirm.text
    assert f'name="reason" rows="3" maxlength="{pull.PAUSE_REASON_MAX}"' in confirm.text
    too_long = client.post(
        f"{base}/pause", data={"csrf_token": csrf, "reason": "x" * (pull.PAUSE_REASON_MAX + 1)}
    )
    assert too_long.status_code == 422 and "pull.reason_too_long" in too_long.text

    paused = client.post(
        f"{base}/pause", data={"csrf_token": csrf, "reason": " 部门数据库迁移 "}, follow_redirects=False
    )
    assert paused.status_code == 303 and paused.headers["location"].endswith(f"?done=paused&source={ps_id}")
    page = client.get(paused.headers["location"]).text
    assert (
        'data-done="paused"' in page and "The pull source is paused" in page and 'data-enabled="no"' in page
    )
    resumed = client.post(f"{base}/resume", data={"csrf_token": csrf}, follow_redirects=True).text
    assert 'data-done="resumed"' in resumed and 'data-enabled="yes"' in resumed
    client.post(f"{base}/pause", data={"csrf_token": csrf})  # no reason: none recorded
    client.post(f"{base}/resume", data={"csrf_token": csrf})
    zh, zh_csrf = page_client("civil_clerk", "zh", session=session)
    rescheduled = zh.post(
        f"{base}/schedule", data={"csrf_token": zh_csrf, "every_minutes": "240"}, follow_redirects=True
    )
    assert "拉取间隔已改为 240 分钟，下次运行不晚于 240 分钟之后。" in rescheduled.text
    ran = client.post(f"{base}/run", data={"csrf_token": csrf}, follow_redirects=False)
    assert ran.status_code == 303 and "/data/batches/" in ran.headers["location"]
    nothing_new = client.post(f"{base}/run", data={"csrf_token": csrf}, follow_redirects=True).text
    assert 'data-done="no_changes"' in nothing_new and "holds nothing new since the last run" in nothing_new
    gone = client.post(f"{base}/delete", data={"csrf_token": csrf}, follow_redirects=True).text
    assert 'data-done="deleted"' in gone and "the batches it loaded stay" in gone
    assert 'data-testid="pull-done"' not in client.get(f"/data/{code}/sources?done=bogus").text

    with read_scope(db_clean) as s:
        reasons = [
            e.detail.get("reason")
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "aggregation.pull_paused", AuditEntry.object_id == str(ps_id))
                .order_by(AuditEntry.seq)
            )
        ]
    assert reasons == ["部门数据库迁移", None]
