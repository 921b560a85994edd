"""The append-only audit log: every write and every data read, each entry chained by SM3 to the previous."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor_user_id: Mapped[int | None] = mapped_column(default=None, index=True)
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    actor_org_id: Mapped[int | None] = mapped_column(default=None, index=True)
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(60), default="")
    object_id: Mapped[str] = mapped_column(String(120), default="", index=True)
    grant_id: Mapped[int | None] = mapped_column(default=None)
    scenario: Mapped[str | None] = mapped_column(String(200), default=None)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")  # ok, denied, error
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Keyed hashes (HMAC-SM3) of the ID numbers / USCCs a read returned: R26 data tracker, never in clear.
    subject_keys: Mapped[list[Any]] = mapped_column(default=list)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text, default=None)


class AuditSubjectIndex(Base):
    """R26 data tracker: which audit entries returned records of a subject (by keyed hash). Derived from
    the entries by `audit.subjects`; one B-tree keyed (hash, entry) — on SQLite without a rowid — so that
    building it in bulk writes one index, not three."""

    __tablename__ = "audit_subject"
    __table_args__ = {"sqlite_with_rowid": False}

    subject_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    audit_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AuditSubjectMark(Base):
    """R26: the last audit entry whose subjects `audit_subject` holds (its high-water mark; one row)."""

    __tablename__ = "audit_subject_mark"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditReceipt(Base):
    """R19 R26: the sealed receipt of a delivery, under the audit entry of the read it covers; written in
    that entry's transaction (the audit writer seals a batch's receipts with one signature)."""

    __tablename__ = "audit_receipt"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sealed: Mapped[str] = mapped_column(Text)
