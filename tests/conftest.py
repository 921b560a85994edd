"""Test fixtures: every test runs on the backend named by GONGSHU_TEST_DB (sqlite, the default, or
postgresql, against the server on 127.0.0.1:5432 in a uniquely named database dropped at the end)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gongshu.kernel import config, db, timeutil

BACKEND = os.environ.get("GONGSHU_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "GONGSHU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_create(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _pg_drop(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gongshu-data")


@pytest.fixture(scope="session")
def db_url(data_dir: Path) -> Iterator[str]:
    from gongshu.kernel.bootstrap import initialise

    pg_name = None
    if BACKEND == "postgresql":
        pg_name = f"gongshu_test_{uuid.uuid4().hex[:12]}"
        url = _pg_create(pg_name)
    else:
        url = f"sqlite:///{data_dir / 'test.db'}"
    os.environ["GONGSHU_DATABASE_URL"] = url
    os.environ["GONGSHU_DATA_DIR"] = str(data_dir)
    os.environ["GONGSHU_BACKGROUND"] = "external"
    config.reset_settings()
    initialise(url)
    yield url
    db.dispose_all()
    if pg_name:
        _pg_drop(pg_name)


def _clean(url: str) -> None:
    from gongshu import models

    tables = [t for t in models.Base.metadata.sorted_tables if t.name != "alembic_version"]
    engine = db.get_engine(url)
    if engine.dialect.name == "postgresql":
        # A previous test's server may still hold a connection (a stream being torn down): end it, so that
        # TRUNCATE does not wait on it or deadlock with it.
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            conn.commit()
        engine.dispose()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


@pytest.fixture()
def fresh_db(tmp_path: Path, db_url: str) -> Iterator[str]:
    """An empty database of its own, for a migration test (the shared test database stays at the head)."""
    name = None
    if BACKEND == "postgresql":
        name = f"gongshu_test_mig_{uuid.uuid4().hex[:10]}"
        url = _pg_create(name)
    else:
        url = f"sqlite:///{tmp_path / 'migration.db'}"
    yield url
    engine = db._engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    if name:
        _pg_drop(name)


@pytest.fixture()
def db_clean(db_url: str) -> Iterator[str]:
    """A database holding only what every installation has (policy, platform key); cleaned afterwards."""
    from gongshu.kernel.bootstrap import seed

    _clean(db_url)
    seed(db_url)
    yield db_url
    timeutil.freeze(None)


@pytest.fixture()
def session(db_clean: str) -> Iterator[Session]:
    s = db.session_factory(db_clean)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


# ---- browser tests ---------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture()
def live_server(db_clean: str) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, against the test database."""
    import socket
    import threading
    import time

    import uvicorn

    from gongshu.web.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one test module (Playwright's sync API holds an event loop while it is open, which
    would stop later tests from running their own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: object, live_server: str) -> Iterator[object]:
    context = browser.new_context(base_url=live_server, locale="zh-CN")  # type: ignore[attr-defined]
    pg = context.new_page()
    yield pg
    context.close()
