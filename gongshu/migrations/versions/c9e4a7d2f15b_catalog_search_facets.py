"""catalog search: the facet columns beside the full-text index (SQLite)

Revision ID: c9e4a7d2f15b
Revises: e81c4f2a9d35
Create Date: 2026-11-29 11:20:00

On SQLite, `catalog_fts_facets` holds, for every indexed entry (rowid = entry id = the FTS5 rowid),
what visibility, the facet filters, the facet counts and the sort by date read: a text query's total,
facet counts and page candidates come from the FTS5 match joined to this narrow table on rowid, without
fetching a catalog row per hit. It is kept by triggers on `catalog_search_doc`, beside the FTS5 triggers:
every change of the index (`index_entry`, `unindex_entry`, a bulk insert of documents) copies the entry's
columns, so it holds exactly what the index holds. PostgreSQL is unchanged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c9e4a7d2f15b"
down_revision: str | None = "e81c4f2a9d35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "status, open_attribute, provider_org_id, catalog_kind, topic, sharing_attribute, format, "
    "update_cycle, grade, updated_at"
)
COPY = (
    f"INSERT OR REPLACE INTO catalog_fts_facets (entry_id, {COLUMNS}) "
    f"SELECT id, {COLUMNS} FROM catalog_entry WHERE id = new.entry_id; "
)
TRIGGERS = ("catalog_fts_facets_ai", "catalog_fts_facets_ad", "catalog_fts_facets_au")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE catalog_fts_facets ("
        "entry_id INTEGER PRIMARY KEY, "
        "status VARCHAR(20) NOT NULL, "
        "open_attribute VARCHAR(30) NOT NULL, "
        "provider_org_id INTEGER NOT NULL, "
        "catalog_kind VARCHAR(30) NOT NULL, "
        "topic VARCHAR(60) NOT NULL, "
        "sharing_attribute VARCHAR(30) NOT NULL, "
        "format VARCHAR(20) NOT NULL, "
        "update_cycle VARCHAR(20) NOT NULL, "
        "grade VARCHAR(20) NOT NULL, "
        "updated_at DATETIME NOT NULL)"
    )
    op.execute(f"CREATE TRIGGER catalog_fts_facets_ai AFTER INSERT ON catalog_search_doc BEGIN {COPY}END")
    op.execute(
        "CREATE TRIGGER catalog_fts_facets_ad AFTER DELETE ON catalog_search_doc BEGIN "
        "DELETE FROM catalog_fts_facets WHERE entry_id = old.entry_id; END"
    )
    op.execute(
        "CREATE TRIGGER catalog_fts_facets_au AFTER UPDATE ON catalog_search_doc BEGIN "
        f"DELETE FROM catalog_fts_facets WHERE entry_id = old.entry_id; {COPY}END"
    )
    op.execute(
        f"INSERT INTO catalog_fts_facets (entry_id, {COLUMNS}) "
        f"SELECT e.id, {', '.join('e.' + c.strip() for c in COLUMNS.split(','))} "
        "FROM catalog_search_doc d JOIN catalog_entry e ON e.id = d.entry_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS catalog_fts_facets")
