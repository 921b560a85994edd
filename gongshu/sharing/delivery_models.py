"""R19: the platform's own tables for delivery by database table and by file exchange — the consumers'
database targets that the platform keeps in sync, the file schedules and the packages generated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now

TARGET_SCHEMES = ("postgresql", "postgresql+psycopg", "mysql+pymysql", "sqlite")
TARGET_STATUSES = ("active", "stopped", "failed")
FILE_FORMATS = ("csv", "xlsx", "parquet")


class DbTarget(Base):
    """R19 (database table): a consumer's database table that the platform fills and keeps in sync under
    one grant. The URL is kept without its password; the password apart, SM4-encrypted, never shown."""

    __tablename__ = "delivery_db_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(500))
    password_enc: Mapped[str | None] = mapped_column(Text, default=None)
    table_name: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    created: Mapped[bool] = mapped_column(default=False)  # the consumer table exists and was filled
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_sync_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_change_id: Mapped[int] = mapped_column(default=0)
    rows_written: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    last_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    registered_by_user_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class FileSchedule(Base):
    """R19 (file exchange): a grant's packages, generated every `every_hours` in the chosen formats."""

    __tablename__ = "delivery_file_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"), unique=True)
    formats: Mapped[list[Any]] = mapped_column(JSON, default=list)
    every_hours: Mapped[int] = mapped_column(default=24)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_generated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_package_path: Mapped[str | None] = mapped_column(String(500), default=None)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class Package(Base):
    """R19 (file exchange): one generated package — its folder, files, sealed manifest and receipt."""

    __tablename__ = "delivery_package"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    folder: Mapped[str] = mapped_column(String(500))
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)  # names downloadable from the folder
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the sealed manifest
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    records: Mapped[int] = mapped_column(default=0)
    generated_at: Mapped[dt.datetime] = mapped_column(default=now)
