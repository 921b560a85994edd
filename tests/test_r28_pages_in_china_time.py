"""R28 R9: the authority supervises by the pages' times, so every page shows an instant in China time
(the database keeps UTC; SQLite gives it back without its zone) — the `china` filter of the one Jinja
environment."""

from __future__ import annotations

import datetime as dt

from gongshu.web.render import china, env


def test_r28_an_instant_is_shown_in_china_time_whether_or_not_it_carries_its_zone() -> None:
    late = dt.datetime(2026, 11, 29, 20, 4, tzinfo=dt.UTC)
    assert china(late) == "2026-11-30 04:04"
    assert china(late.replace(tzinfo=None)) == "2026-11-30 04:04"  # naive, as SQLite returns it: UTC
    assert china(late, "%Y-%m-%d") == "2026-11-30"  # the day in China, not in UTC
    assert china(dt.date(2026, 11, 29)) == "2026-11-29" and china(None) == ""


def test_r28_templates_use_the_filter() -> None:
    page = env.from_string('{{ at|china }} · {{ at|china("%H:%M") }}')
    assert page.render(at=dt.datetime(2026, 1, 1, 16, 30, tzinfo=dt.UTC)) == "2026-01-02 00:30 · 00:30"
