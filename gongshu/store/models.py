"""R7 R9 R13: the data store's own tables — one row per provisioned resource, the batches that load data
into it, the rows a batch refused (quarantine), the refused rows each line of a resubmission brings again,
and the history of every changed record.

The per-resource data tables themselves are not here: the store creates and migrates them from the
published items (`tables.py`), because they are data, not the platform's schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now

BATCH_MODES = ("full", "incremental")
BATCH_SOURCES = ("upload", "push", "pull")
BATCH_STATUSES = ("staged", "loading", "committed", "failed")
HISTORY_OPS = ("insert", "update", "delete")


class StoreResource(Base):
    """R7 R9: the typed table that holds a published resource's data, with the items it was built from."""

    __tablename__ = "store_resource"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), unique=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    key_item: Mapped[str] = mapped_column(String(64))
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    schema_version: Mapped[int] = mapped_column(default=1)
    row_count: Mapped[int] = mapped_column(default=0)
    last_batch_id: Mapped[int | None] = mapped_column(default=None)
    last_loaded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class Batch(Base):
    """R7 R13: one load of data into a resource (full or incremental), with the counts of its report:
    received = accepted + refused + deduplicated."""

    __tablename__ = "store_batch"
    __table_args__ = (UniqueConstraint("resource_code", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    mode: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20), default="upload")
    filename: Mapped[str] = mapped_column(String(255), default="")
    encoding: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(20), default="staged", index=True)
    received: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    deduplicated: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(120), default=None)
    actor_user_id: Mapped[int | None] = mapped_column(default=None)
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # R13: the batch whose refused rows this one brings again, corrected (a resubmission; None otherwise)
    resubmission_of: Mapped[int | None] = mapped_column(index=True, default=None)

    @property
    def unchanged(self) -> int:
        """R7 R13: the accepted rows that left their record as it was (the same values as stored, compared
        in the columns' types), so that accepted = inserted + updated + unchanged. `deleted` is apart: the
        stored records a full load's file no longer holds, or the keys an incremental push sent for
        deletion. 0 for a batch that did not commit (it changed nothing)."""
        if self.status != "committed":
            return 0
        return max(0, self.accepted - self.inserted - self.updated)


class QuarantineRow(Base):
    """R13: a row a batch refused, kept with its source row number, column, rule and message — nothing is
    ever silently dropped, and problem data stays traceable."""

    __tablename__ = "store_quarantine_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("store_batch.id", ondelete="CASCADE"), index=True)
    source_row: Mapped[int] = mapped_column()
    column: Mapped[str] = mapped_column(String(64), default="")
    rule: Mapped[str] = mapped_column(String(40))
    value: Mapped[str | None] = mapped_column(Text, default=None)
    message_zh: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ResubmittedRow(Base):
    """R13: which refused row of the original batch each line of a resubmission brings again — the
    `_source_row` the refused-rows download wrote on it, kept when the helper column is dropped. A line
    the resubmission accepted corrects that row, whatever its key has become; a line it refused again
    leaves the row to fix (computed from the resubmission's quarantine, never stored)."""

    __tablename__ = "store_resubmitted_row"
    __table_args__ = (Index("ix_store_resubmitted_row_batch_original", "batch_id", "original_row"),)

    # the resubmission (its `resubmission_of` names the original batch) and the line's source row in it
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("store_batch.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    source_row: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    original_row: Mapped[int] = mapped_column()  # the original batch's source row (`_source_row`)


class RecordHistory(Base):
    """R13 R14: every change of a record (insert, update, delete) with its values before and after, the
    batch that made it, who, and the correction (objection) it answers, if any."""

    __tablename__ = "store_record_history"
    __table_args__ = (Index("ix_store_record_history_resource_key", "resource_code", "record_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    record_key: Mapped[str] = mapped_column(String(200))
    op: Mapped[str] = mapped_column(String(10))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    batch_id: Mapped[int | None] = mapped_column(index=True, default=None)
    correction_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    actor_user_id: Mapped[int | None] = mapped_column(default=None)
    at: Mapped[dt.datetime] = mapped_column(default=now)
