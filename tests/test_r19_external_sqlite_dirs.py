"""R7 R19 R26: SQLite files outside the platform are read (pull sources) and written (database-table delivery
targets) only inside the configured folders of external databases (`external_sqlite_dirs`, by default
`<data folder>-external`) — deny by default, compared by real path (symbolic links resolved), and checked
before the file is looked at: a path outside gets the same refusal whether or not it exists, so the forms
cannot probe the server's files, and no file is ever created outside."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation import external_db, pull
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import config
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.timeutil import now
from gongshu.sharing import db_table
from gongshu.sharing.delivery_models import DbTarget

ENV = "GONGSHU_EXTERNAL_SQLITE_DIRS"
ITEMS_QUERY = "SELECT id_number, full_name, registered_on, children, allowance, active FROM src"
GRANTED = ["id_number", "full_name", "registered_on", "allowance", "active"]
OUTSIDE_ZH = "须位于平台为外部数据库指定的文件夹内"
OUTSIDE_EN = "must lie inside a folder set aside for external databases"


def _configure(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    config.reset_settings()


@pytest.fixture()
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(the one folder of external databases, a writable folder outside it)."""
    allowed, outside = tmp_path / "external", tmp_path / "elsewhere"
    allowed.mkdir()
    outside.mkdir()
    _configure(monkeypatch, str(allowed))
    yield allowed, outside
    monkeypatch.delenv(ENV, raising=False)
    config.reset_settings()


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


def _source_file(path: Path) -> Path:
    """A department's SQLite database with two rows."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE src (id_number VARCHAR(18) PRIMARY KEY, full_name VARCHAR(20), registered_on DATE, "
        "children INTEGER, allowance DECIMAL(10, 2), active BOOLEAN)"
    )
    conn.execute(f"INSERT INTO src VALUES ('{IDS[0]}', '张三', '2024-01-01', 0, 2.50, 1)")
    conn.execute(f"INSERT INTO src VALUES ('{IDS[1]}', '李四', '2024-01-02', 1, 2.50, 1)")
    conn.commit()
    conn.close()
    return path


def _register_pull(db_url: str, c: dict[str, Any], code: str, url: str) -> int:
    with session_scope(db_url) as s:
        return pull.register_pull(
            s, c["civil_clerk"], code, url, ITEMS_QUERY, mode="full", watermark_column=None, every_minutes=30
        ).id


def _pull_refused(db_url: str, c: dict[str, Any], code: str, url: str) -> GongshuError:
    with pytest.raises(GongshuError) as err:
        _register_pull(db_url, c, code, url)
    with read_scope(db_url) as s:
        assert pull.pulls_of(s, code) == []
    return err.value


def _grant(session: Session, c: dict[str, Any], tmp: Path, db_url: str) -> int:
    """A published resource with three records and a db_table grant to the police (R17)."""
    code = publish(session, c).resource_code
    session.rollback()
    rows = [f"{IDS[0]},甲,2024-01-02,1,2.5,是", f"{IDS[1]},乙,2024-01-03,0,,否", f"{IDS[2]},丙,,2,10.25,是"]
    ingest_file(
        c["civil_clerk"], code, write(tmp, "full.csv", HEADER + "\n" + "\n".join(rows) + "\n"), url=db_url
    )
    g = create_grant(
        session,
        SYSTEM,
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=GRANTED,
        scenario="婚姻状况核验",
        delivery_method="db_table",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    session.commit()
    return g.id


def _register_target(db_url: str, c: dict[str, Any], grant_id: int, url: str) -> int:
    with session_scope(db_url) as s:
        return db_table.register_target(s, c["police_clerk"], grant_id, url, "marriage").id


def _target_refused(db_url: str, c: dict[str, Any], grant_id: int, url: str) -> GongshuError:
    with pytest.raises(GongshuError) as err:
        _register_target(db_url, c, grant_id, url)
    with read_scope(db_url) as s:
        assert db_table.targets_of(s, c["police"].id) == []
    return err.value


def _shown(e: GongshuError) -> tuple[Any, ...]:
    """Everything a refusal tells the officer."""
    return (e.code, e.status_code, e.field, e.message_zh, e.message_en, repr(e.details))


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# ---- R19: delivery targets ------------------------------------------------------------------------------


def test_r19_a_target_outside_the_folders_is_refused_and_no_file_is_created(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """R19 R26: a target may be written only inside the folders of external databases — not in any other
    folder the platform could write to; nothing is created or changed there, and the message names the
    configured folder only."""
    allowed, outside = folders
    grant_id = _grant(session, c, tmp_path, db_clean)
    existing = outside / "existing.db"
    sqlite3.connect(existing).close()
    before = existing.read_bytes()
    sibling = tmp_path / "external-other"  # shares the allowed folder's name as a prefix
    sibling.mkdir()
    files = _files(tmp_path)
    for url in (
        f"sqlite:///{outside / 'consumer.db'}",
        f"sqlite:///{existing}",
        f"sqlite:///{outside / 'no_such_folder' / 'consumer.db'}",
        f"sqlite:///{sibling / 'consumer.db'}",
        f"sqlite:///{allowed}/../elsewhere/consumer.db",
        f"sqlite:///{allowed}",
        "sqlite:///consumer.db",  # relative: the server's working folder
        "sqlite:////tmp/gongshu-r19-consumer.db",
    ):
        e = _target_refused(db_clean, c, grant_id, url)
        assert (e.code, e.status_code, e.field) == ("delivery.sqlite_outside_dirs", 422, "url"), url
        assert OUTSIDE_ZH in e.message_zh and OUTSIDE_EN in e.message_en
        assert str(allowed) in e.message_zh and str(allowed) in e.message_en
        assert str(outside) not in f"{e.message_zh} {e.message_en} {e.details}"
    assert _files(tmp_path) == files and existing.read_bytes() == before
    assert not Path("consumer.db").exists() and not Path("/tmp/gongshu-r19-consumer.db").exists()


def test_r19_a_symlink_inside_the_folder_leading_outside_is_refused(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """R19 R26: the real path is checked — a link in the folder (to a file, to a file still to be created,
    to another folder) that leads outside is refused, at registration and, swapped in later, at the sync;
    nothing is written outside."""
    allowed, outside = folders
    grant_id = _grant(session, c, tmp_path, db_clean)
    existing = outside / "existing.db"
    sqlite3.connect(existing).close()
    (allowed / "link.db").symlink_to(existing)
    (allowed / "dangling.db").symlink_to(outside / "new.db")
    (allowed / "sub").symlink_to(outside, target_is_directory=True)
    for name in ("link.db", "dangling.db", "sub/consumer.db"):
        e = _target_refused(db_clean, c, grant_id, f"sqlite:///{allowed / name}")
        assert e.code == "delivery.sqlite_outside_dirs", name
    assert _files(outside) == {existing} and existing.stat().st_size == 0

    target = allowed / "consumer.db"
    target_id = _register_target(db_clean, c, grant_id, f"sqlite:///{target}")
    target.symlink_to(outside / "swapped.db")  # the registered (not yet created) file now leads outside
    with pytest.raises(GongshuError) as err:
        db_table.sync(c["police_clerk"], target_id, url=db_clean)
    assert (err.value.code, err.value.status_code) == ("delivery.sqlite_outside_dirs", 422)
    assert not (outside / "swapped.db").exists()
    with read_scope(db_clean) as s:
        t = s.get(DbTarget, target_id)
        assert t is not None and t.status == "failed"
        assert t.last_error["code"] == "delivery.sqlite_outside_dirs"


def test_r19_inside_the_folders_a_target_works_as_before(
    db_clean: str,
    session: Session,
    c: dict[str, Any],
    tmp_path: Path,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R19: inside the folders (a sub-folder too, the folder configured through a link) a target is created
    at its first sync as before, and the other checks still apply (a missing folder)."""
    allowed, _ = folders
    via = tmp_path / "via-link"
    via.symlink_to(allowed, target_is_directory=True)
    _configure(monkeypatch, str(via))
    grant_id = _grant(session, c, tmp_path, db_clean)
    e = _target_refused(db_clean, c, grant_id, f"sqlite:///{allowed / 'no_such_folder' / 'consumer.db'}")
    assert e.code == "delivery.sqlite_folder"
    (allowed / "sub").mkdir()
    target = allowed / "sub" / "consumer.db"
    target_id = _register_target(db_clean, c, grant_id, f"sqlite:///{via}/sub/../sub/consumer.db")
    assert not target.exists()
    assert db_table.sync(c["police_clerk"], target_id, url=db_clean).upserted == 3
    engine = create_engine(f"sqlite:///{target}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM marriage")).scalar() == 3
    engine.dispose()


# ---- R7: pull sources -----------------------------------------------------------------------------------


def test_r7_a_source_outside_the_folders_gets_the_same_refusal_whether_or_not_it_exists(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """R7 R26: a SQLite source outside the folders is refused before the file is looked at — an existing
    database, a missing file, a folder, a system file and a path through `..` get the very same answer, so
    the form tells nothing of the server's files. Inside the folders, a missing file is told as before."""
    allowed, outside = folders
    existing = _source_file(outside / "dept.db")
    answers = set()
    for url in (
        f"sqlite:///{existing}",
        f"sqlite:///{outside / 'missing.db'}",
        f"sqlite:///{outside / 'no_such_folder' / 'missing.db'}",
        f"sqlite:///{outside}",
        "sqlite:////etc/passwd",
        "sqlite:////no/such/file.db",
        f"sqlite:///{allowed}/../elsewhere/dept.db",
    ):
        e = _pull_refused(db_clean, c, code, url)
        assert (e.code, e.status_code, e.field) == ("pull.sqlite_outside_dirs", 422, "url"), url
        answers.add(_shown(e))
    assert len(answers) == 1, answers
    [(_, _, _, zh, en, _)] = answers
    assert OUTSIDE_ZH in zh and str(allowed) in zh and OUTSIDE_EN in en and str(allowed) in en
    assert (
        _pull_refused(db_clean, c, code, f"sqlite:///{allowed / 'missing.db'}").code == "pull.sqlite_missing"
    )


def test_r7_a_symlink_inside_the_folder_leading_outside_is_refused(
    db_clean: str, c: dict[str, Any], code: str, folders: tuple[Path, Path]
) -> None:
    """R7 R26: a link in the folder to a file outside it — existing or not — is refused alike; a source
    registered inside and swapped for such a link is refused at its next run, and nothing is loaded."""
    allowed, outside = folders
    existing = _source_file(outside / "dept.db")
    (allowed / "link.db").symlink_to(existing)
    (allowed / "dangling.db").symlink_to(outside / "missing.db")
    answers = {
        _shown(_pull_refused(db_clean, c, code, f"sqlite:///{allowed / n}"))
        for n in ("link.db", "dangling.db")
    }
    assert [a[0] for a in answers] == ["pull.sqlite_outside_dirs"]

    source = _source_file(allowed / "source.db")
    _register_pull(db_clean, c, code, f"sqlite:///{source}")
    source.unlink()
    source.symlink_to(existing)
    with pytest.raises(GongshuError) as err:
        pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert err.value.code == "pull.sqlite_outside_dirs"


def test_r7_inside_the_folders_a_source_is_pulled_as_before(
    db_clean: str, c: dict[str, Any], code: str, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """R7: a source inside the folders (here in a sub-folder) is registered and pulled as before; once the
    setting no longer lists its folder, its next run is refused."""
    allowed, outside = folders
    (allowed / "dept").mkdir()
    source = _source_file(allowed / "dept" / "dept.db")
    _register_pull(db_clean, c, code, f"sqlite:///{source}")
    report = pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert (report["status"], report["inserted"]) == ("committed", 2), report
    _configure(monkeypatch, str(outside))
    with pytest.raises(GongshuError) as err:
        pull.run_pull(c["civil_clerk"], code, url=db_clean)
    assert err.value.code == "pull.sqlite_outside_dirs" and str(allowed) not in err.value.message_zh


def test_r7_r19_a_connection_is_checked_by_the_file_it_opened(folders: tuple[Path, Path]) -> None:
    """R7 R19 R26: after connecting, the file SQLite opened is checked again against the folders."""
    _, outside = folders
    engine = external_db.sqlite_engine(_source_file(outside / "dept.db"), write=False)
    try:
        with pytest.raises(GongshuError) as err:
            external_db.connect(engine, pull.WORDS, None)
        assert err.value.code == "pull.sqlite_outside_dirs"
    finally:
        engine.dispose()


# ---- the setting: empty, default ------------------------------------------------------------------------


def test_r7_r19_an_empty_setting_refuses_every_sqlite_file(
    db_clean: str,
    session: Session,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R7 R19 R26: with no folder configured, no SQLite file is read or written (server URLs are unaffected)."""
    allowed, _ = folders
    source = _source_file(allowed / "dept.db")
    grant_id = _grant(session, c, tmp_path, db_clean)
    _configure(monkeypatch, "")
    assert external_db.external_sqlite_dirs() == []
    e = _pull_refused(db_clean, c, code, f"sqlite:///{source}")
    assert e.code == "pull.sqlite_outside_dirs" and "不接受" in e.message_zh and "accepts no" in e.message_en
    e = _target_refused(db_clean, c, grant_id, f"sqlite:///{allowed / 'consumer.db'}")
    assert e.code == "delivery.sqlite_outside_dirs" and not (allowed / "consumer.db").exists()
    assert _pull_refused(db_clean, c, code, "postgresql://u:p@127.0.0.1:1/x").code == "pull.connect_failed"


def test_r7_r19_by_default_the_folder_beside_the_data_folder(
    db_clean: str,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R7 R19: unset, the one folder of external databases is `<data folder>-external` — where the demo keeps
    its stand-in department databases."""
    from gongshu.demo.external import ensure_external_dir, external_dir

    _configure(monkeypatch, None)
    real_data = Path(os.path.realpath(data_dir))
    assert external_db.external_sqlite_dirs() == [real_data.parent / f"{real_data.name}-external"]
    assert external_db.external_sqlite_dirs() == [external_dir()]
    e = _pull_refused(db_clean, c, code, f"sqlite:///{_source_file(tmp_path / 'dept.db')}")
    assert e.code == "pull.sqlite_outside_dirs"
    source = ensure_external_dir() / f"r7-default-{os.getpid()}.db"
    try:
        _register_pull(db_clean, c, code, f"sqlite:///{_source_file(source)}")
    finally:
        source.unlink()


def test_r7_r19_the_setting_lists_folders_by_path_separator_or_json() -> None:
    """R7 R19: GONGSHU_EXTERNAL_SQLITE_DIRS as `a:b` or a JSON array; relative folders made absolute."""
    assert config.Settings(external_sqlite_dirs="/a:/b c").resolved_external_sqlite_dirs() == [
        Path("/a"),
        Path("/b c"),
    ]
    assert config.Settings(external_sqlite_dirs='["/a", "/b"]').external_sqlite_dirs == [
        Path("/a"),
        Path("/b"),
    ]
    assert config.Settings(external_sqlite_dirs="").resolved_external_sqlite_dirs() == []
    assert config.Settings(external_sqlite_dirs="rel").resolved_external_sqlite_dirs() == [Path.cwd() / "rel"]


# ---- the pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "message"), [(None, OUTSIDE_ZH), ("en", OUTSIDE_EN)])
def test_r7_r19_the_forms_show_the_refusal(
    db_clean: str,
    session: Session,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    folders: tuple[Path, Path],
    lang: str | None,
    message: str,
) -> None:
    """R7 R19: the pull source form and the delivery target form answer a SQLite file outside the folders
    with a form error (422) in the page's language, naming the configured folder, and create nothing."""
    allowed, outside = folders
    grant_id = _grant(session, c, tmp_path, db_clean)
    source = _source_file(outside / "dept.db")
    client, csrf = page_client("civil_clerk", lang, session=session)
    form = {"csrf_token": csrf, "url": f"sqlite:///{source}", "table_or_query": ITEMS_QUERY, "mode": "full"}
    page = client.post(f"/data/{code}/sources", data={**form, "every_minutes": "15"})
    assert page.status_code == 422, page.status_code
    refused = page.text.split('data-testid="pull-refused"', 1)[1].split("</div>", 1)[0]
    assert "pull.sqlite_outside_dirs" in refused and message in refused and str(allowed) in refused

    client, csrf = page_client("police_clerk", lang, session=session)
    target = outside / "consumer.db"
    form = {"csrf_token": csrf, "grant_id": str(grant_id), "url": f"sqlite:///{target}", "table": "marriage"}
    page = client.post("/sharing/delivery/targets", data=form)
    assert page.status_code == 422, page.status_code
    refused = page.text.split('data-testid="delivery-refused"', 1)[1].split("</div>", 1)[0]
    assert "delivery.sqlite_outside_dirs" in refused and message in refused and str(allowed) in refused
    assert not target.exists()
    with read_scope(db_clean) as s:
        assert pull.pulls_of(s, code) == [] and db_table.targets_of(s, c["police"].id) == []
