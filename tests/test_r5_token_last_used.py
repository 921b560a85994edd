"""R5 identity / R26 security: an API token's `last_used_at` is noted when the token is resolved from the
database (not from the per-process cache of actors), at most once a minute per token, in a short
transaction of its own that never fails the request; the token API and the tokens page show it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from auth_fixtures import PASSWORD, csrf_of, seed_city
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text

from gongshu.kernel import db, timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity import service, tokens
from gongshu.kernel.identity.models import ApiToken
from gongshu.web.app import create_app

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=timeutil.CHINA)


@pytest.fixture()
def city(db_clean: str) -> Iterator[str]:
    seed_city()
    tokens.forget_token_actors()
    yield db_clean
    tokens.forget_token_actors()


def _issue(username: str = "zhang") -> tuple[str, int]:
    with session_scope() as s:
        raw, token = tokens.issue_token(s, service.get_user_by_username(s, username), name="nightly")
        return raw, token.id


def _last_used(token_id: int) -> dt.datetime | None:
    with read_scope() as s:
        return s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))


class _Writes:
    """Counts the UPDATEs of api_token sent to the database."""

    def __init__(self, url: str) -> None:
        self.engine = db.get_engine(url)
        self.count = 0

    def _seen(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            self.count += 1

    def __enter__(self) -> _Writes:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _resolve(raw: str) -> str:
    with read_scope() as s:
        return tokens.resolve_api_token(s, raw).username


def test_r5_r26_a_token_use_sets_last_used_at(city: str) -> None:
    timeutil.freeze(T0)
    raw, token_id = _issue()
    assert _last_used(token_id) is None
    assert _resolve(raw) == "zhang"
    assert _last_used(token_id) == T0


def test_r5_r26_a_second_use_within_the_minute_does_not_write_again(city: str) -> None:
    timeutil.freeze(T0)
    raw, token_id = _issue()
    with _Writes(city) as writes:
        _resolve(raw)
        assert writes.count == 1
        _resolve(raw)  # from the cache of actors: the database is not asked at all
        assert writes.count == 1
        timeutil.freeze(T0 + dt.timedelta(seconds=59))
        tokens.forget_token_actors()  # read from the database again, but used less than a minute ago
        _resolve(raw)
        assert writes.count == 1 and _last_used(token_id) == T0
        timeutil.freeze(T0 + dt.timedelta(seconds=61))
        tokens.forget_token_actors()
        _resolve(raw)
        assert writes.count == 2 and _last_used(token_id) == T0 + dt.timedelta(seconds=61)


def test_r5_r26_a_refused_token_notes_no_use(city: str) -> None:
    raw, token_id = _issue()
    with session_scope() as s:
        zhang = service.get_user_by_username(s, "zhang")
        tokens.revoke_token(s, service.build_actor(s, zhang), token_id)
    with pytest.raises(GongshuError) as refused, read_scope() as s:
        tokens.resolve_api_token(s, raw)
    assert refused.value.code == "auth.token_revoked"
    assert _last_used(token_id) is None


def test_r5_r26_a_locked_database_does_not_fail_the_request(
    city: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer holding SQLite's database lock (PostgreSQL: the token's row) for longer than the note may
    wait: the token still resolves, promptly, and its use is simply not noted this time."""
    timeutil.freeze(T0)
    raw, token_id = _issue()
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with session_scope() as s:
            s.execute(text("UPDATE api_token SET name = 'held' WHERE id = :id"), {"id": token_id})
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        assert _resolve(raw) == "zhang"
        assert time.monotonic() - started < 3
    finally:
        release.set()
        thread.join(10)
    assert _last_used(token_id) is None
    assert "was not noted" in caplog.text  # logged, and ignored
    tokens.forget_token_actors()
    _resolve(raw)  # the next use from the database notes it
    assert _last_used(token_id) == T0


def test_r5_r26_token_api_and_page_show_when_a_token_was_last_used(city: str) -> None:
    with TestClient(create_app()) as client:
        issued = client.post(
            "/api/v1/auth/tokens", json={"username": "zhang", "password": PASSWORD, "name": "export"}
        )
        assert issued.status_code == 201, issued.text
        bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
        listed = client.get("/api/v1/auth/tokens", headers=bearer)
        assert listed.status_code == 200
        (row,) = listed.json()
        assert row["last_used_at"] is not None  # this very request used it
        used = dt.datetime.fromisoformat(row["last_used_at"])
        assert abs(used - timeutil.now()) < dt.timedelta(minutes=1)

        page = client.get("/login?next=/account/tokens")
        client.post(
            "/login",
            data={
                "username": "zhang",
                "password": PASSWORD,
                "next": "/account",
                "csrf_token": csrf_of(page.text),
            },
        )
        tokens_page = client.get("/account/tokens")
        assert tokens_page.status_code == 200
        assert 'data-testid="token-last-used"' in tokens_page.text
        assert "最近使用" in tokens_page.text and "从未使用" not in tokens_page.text
