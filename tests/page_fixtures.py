"""Page tests: a browser-like test client, logged in (second factor done), in a page language."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.db import session_scope
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.web.app import create_app


def page_client(
    username: str, lang: str | None = None, *, session: Session | None = None
) -> tuple[TestClient, str]:
    """A test client logged in as `username` (with `lang`, the page language's cookie), and its
    session's CSRF token. The login session is started in `session` (committed) when given, else in one of its own."""

    def start(s: Session) -> tuple[str, str]:
        user = s.scalars(select(User).where(User.username == username)).one()
        raw, ws = sessions.start_session(s, user, ip=None, user_agent="pytest", second_factor_done=True)
        return raw, ws.csrf_token

    if session is not None:
        raw, csrf = start(session)
        session.commit()
    else:
        with session_scope() as s:
            raw, csrf = start(s)
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    if lang is not None:
        client.cookies.set("gs_lang", lang)
    return client, csrf
