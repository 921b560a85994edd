"""R6: catalog entries (one per data resource), their information items, every published version (R9)
and the search document of each published entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class CatalogEntry(Base):
    """R6: one data resource's catalog entry. The row holds the version in force; a change under review
    (R9) waits in `pending` and replaces the row's values only when approved."""

    __tablename__ = "catalog_entry"
    # Search: browsing pages the visible entries newest first straight from this index (R6).
    __table_args__ = (Index("ix_catalog_entry_status_updated_at", "status", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), unique=True)
    catalog_kind: Mapped[str] = mapped_column(String(30), index=True)
    category_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(60), default="")
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sharing_attribute: Mapped[str] = mapped_column(String(30))
    sharing_conditions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    sharing_methods: Mapped[list[Any]] = mapped_column(JSON, default=list)
    open_attribute: Mapped[str] = mapped_column(String(30))
    open_conditions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    not_open_reason: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(20))
    grade: Mapped[str] = mapped_column(String(20))
    contains_personal_info: Mapped[bool] = mapped_column(default=False)
    deidentified: Mapped[bool] = mapped_column(default=False)
    subject_kind: Mapped[str] = mapped_column(String(20), default="other")
    related_codes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    current_version: Mapped[int] = mapped_column(default=0)
    review_case_id: Mapped[int | None] = mapped_column(default=None)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    pending_case_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    items: Mapped[list[CatalogItem]] = relationship(
        back_populates="entry", order_by="CatalogItem.seq", cascade="all, delete-orphan", lazy="selectin"
    )


class CatalogItem(Base):
    """R6: an information item (信息项) of an entry."""

    __tablename__ = "catalog_item"
    __table_args__ = (UniqueConstraint("entry_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(64))
    label_zh: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120), default="")
    data_type: Mapped[str] = mapped_column(String(20))
    length: Mapped[int | None] = mapped_column(default=None)
    is_key: Mapped[bool] = mapped_column(default=False)
    sensitivity: Mapped[str] = mapped_column(String(20), default="public")
    description: Mapped[str] = mapped_column(Text, default="")

    entry: Mapped[CatalogEntry] = relationship(back_populates="items")


class CatalogEntryVersion(Base):
    """R9: every published version is kept, as a snapshot, with the case that approved it."""

    __tablename__ = "catalog_entry_version"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[dt.datetime] = mapped_column(default=now)
    case_id: Mapped[int | None] = mapped_column(default=None)


class CatalogSearchDoc(Base):
    """The segmented text of a published entry (jieba words plus every CJK character). On SQLite the
    FTS5 table `catalog_fts` (rowid = entry id) indexes it; on PostgreSQL the stored generated column
    `tsv` = to_tsvector('simple', body) (created by the migration, not mapped here) with a GIN index."""

    __tablename__ = "catalog_search_doc"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_entry.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)


class CatalogGeneration(Base):
    """The search index's generation: one row (id 1), bumped in the same transaction as every change of
    the index (publication, approved change, withdrawal). Search reads it with one tiny query and keys
    its in-process cache of the browse facet counts by `token` (new and random at every bump, so that no
    two databases nor two states of one database share a key)."""

    __tablename__ = "catalog_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)
