"""store: the text key of every resource table compares byte by byte on PostgreSQL (collation "C") (R10)

Resource tables are built by `gongshu.store.tables.data_table`, which now gives a text key (an ID number,
a USCC, a declared text key or the row hash) the collation "C" on PostgreSQL: keys sort as SQLite sorts
them, and the key's index is built and searched without the locale's rules. This brings the tables built
before to the same definition (their key index is rebuilt). SQLite: nothing to do.

Revision ID: b2f7c4e8d1a6
Revises: a1c5e9f3b7d2
Create Date: 2026-11-29 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2f7c4e8d1a6"
down_revision: str | Sequence[str] | None = "a1c5e9f3b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_TYPES = ("character varying", "text")


def _keys(collation: str | None) -> list[tuple[str, str, str]]:
    """The resource tables whose text key does not have `collation` yet: (table, key, its type)."""
    bind = op.get_bind()
    found = []
    for table, key in bind.execute(sa.text("SELECT table_name, key_item FROM store_resource")).all():
        col = bind.execute(
            sa.text(
                "SELECT data_type, character_maximum_length, collation_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t AND column_name = :c"
            ),
            {"t": table, "c": key},
        ).first()
        if col is None or col.data_type not in TEXT_TYPES or col.collation_name == collation:
            continue
        length = col.character_maximum_length
        kind = "TEXT" if col.data_type == "text" else f"VARCHAR({int(length)})" if length else "VARCHAR"
        found.append((table, key, kind))
    return found


def _collate(collation: str | None) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    quote = bind.dialect.identifier_preparer.quote_identifier
    target = '"C"' if collation else '"default"'
    for table, key, kind in _keys(collation):
        op.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(key)} TYPE {kind} COLLATE {target}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)
