"""R7 R9: the platform's own tables for aggregation — the departments' databases it pulls from on a
schedule, and the freshness alarms already raised (so that an interruption is alarmed once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now

PULL_MODES = ("full", "incremental")
PULL_SCHEMES = ("postgresql", "postgresql+psycopg", "mysql+pymysql", "sqlite")


class PullSource(Base):
    """R7: a department database the platform pulls a resource's data from, every `every_minutes`.

    The URL is kept without its password; the password is kept apart, encrypted with SM4 (never shown)."""

    __tablename__ = "aggregation_pull_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    url: Mapped[str] = mapped_column(String(500))
    password_enc: Mapped[str | None] = mapped_column(Text, default=None)
    table_or_query: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(20), default="full")
    watermark_column: Mapped[str | None] = mapped_column(String(64), default=None)
    last_watermark: Mapped[str | None] = mapped_column(String(120), default=None)
    every_minutes: Mapped[int] = mapped_column(default=60)
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_status: Mapped[str] = mapped_column(String(20), default="never")
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    last_batch_id: Mapped[int | None] = mapped_column(default=None)
    registered_by_user_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class FreshnessAlarm(Base):
    """R9: an interrupted resource already alarmed; removed when the resource is fresh again."""

    __tablename__ = "aggregation_freshness_alarm"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), unique=True)
    expected_by: Mapped[dt.datetime | None] = mapped_column(default=None)
    alarmed_at: Mapped[dt.datetime] = mapped_column(default=now)
