"""Alembic environment: one migration history for the platform's metadata."""

from __future__ import annotations

import re
from typing import Any

from alembic import context

from gongshu import models
from gongshu.kernel.db import get_engine

config = context.config
target_metadata = models.Base.metadata


FULLTEXT = re.compile(r".+_fts(_[a-z]+)?|ix_.+_tsv|tsv")


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Full-text structures — SQLite FTS5 tables `<name>_fts` (and their shadow tables), PostgreSQL GIN
    indexes `ix_<table>_tsv` and stored tsvector columns `tsv` — are created by migrations with raw SQL
    and have no model: autogenerate leaves them alone."""
    fulltext = FULLTEXT.fullmatch(name or "") is not None
    return not (type_ in ("table", "index", "column") and reflected and compare_to is None and fulltext)


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = get_engine(url)
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
