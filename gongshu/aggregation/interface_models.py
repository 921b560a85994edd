"""The aggregation domain's own tables: service interfaces that stand in for copied data (R7), the
explicit mapping of catalog entries to the statutory base resources (R11 R12), and the sealed documents
attached to records of document and certificate resources (R10)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class ServiceInterface(Base):
    """R7: data that law forbids aggregating is served by the department's own HTTP API, proxied by the
    platform — usable only once the authority has confirmed it (who, when, on which legal basis)."""

    __tablename__ = "service_interface"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    path_template: Mapped[str] = mapped_column(String(500), default="")
    method: Mapped[str] = mapped_column(String(10), default="GET")
    # Query parameter accepted from callers → the catalog item it filters on.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout_seconds: Mapped[float] = mapped_column(default=5.0)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    registered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    registered_at: Mapped[dt.datetime] = mapped_column(default=now)
    confirmed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    enabled: Mapped[bool] = mapped_column(default=False)


class BaseDataMapping(Base):
    """R11 R12: an explicit statement that a catalog entry holds a statutory base resource (when its name
    differs from the policy's)."""

    __tablename__ = "base_data_mapping"
    __table_args__ = (UniqueConstraint("base_code", "resource_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    base_code: Mapped[str] = mapped_column(String(60), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class RecordDocument(Base):
    """R10: a document or certificate file of one record, with the detached electronic seal of the
    organisation that issued it. The file itself lives in the data folder under its SM3 digest."""

    __tablename__ = "record_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    record_key: Mapped[str] = mapped_column(String(200))
    item_name: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    sm3: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    sealing_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    added_at: Mapped[dt.datetime] = mapped_column(default=now)
