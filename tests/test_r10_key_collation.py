"""R10: a resource's text key compares byte by byte on PostgreSQL (collation "C"), as on SQLite — the
tables built at publication, and those built before, through migration b2f7c4e8d1a6."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from store_fixtures import publish, store_city

from gongshu.kernel import db
from gongshu.kernel.db import read_scope
from gongshu.store import service as store


def _collation(url: str, table: str, column: str) -> str | None:
    with db.get_engine(url).connect() as conn:
        return conn.execute(
            text(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t AND column_name = :c"
            ),
            {"t": table, "c": column},
        ).scalar_one()


@pytest.fixture()
def pg(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("collations of columns: PostgreSQL only (SQLite compares text byte by byte)")


@pytest.mark.usefixtures("pg")
def test_r10_a_published_resource_has_its_text_key_in_collation_c(db_clean: str, session: Session) -> None:
    c: dict[str, Any] = store_city(session)
    code = publish(session, c).resource_code
    keyless = publish(
        session,
        c,
        items=[{"name": "note", "label_zh": "备注", "data_type": "string", "length": 40}],
        name="无主键的备注",
        subject_kind="other",
    ).resource_code
    with read_scope(db_clean) as s:
        res, other = store.get_resource(s, code), store.get_resource(s, keyless)
        table, other_table, other_key = res.table_name, other.table_name, other.key_item
    assert _collation(db_clean, table, "id_number") == "C"
    assert other_key == "_row_hash" and _collation(db_clean, other_table, "_row_hash") == "C"
    assert _collation(db_clean, other_table, "note") is None


@pytest.mark.usefixtures("pg")
def test_r10_migration_gives_older_tables_text_keys_in_collation_c(fresh_db: str) -> None:
    from alembic import command

    from gongshu.kernel import migrate

    migrate.upgrade(fresh_db, "a1c5e9f3b7d2")
    with db.get_engine(fresh_db).begin() as conn:
        conn.execute(text("CREATE TABLE d_old (id_number VARCHAR(18) PRIMARY KEY, n BIGINT)"))
        conn.execute(text("CREATE TABLE d_num (n BIGINT PRIMARY KEY)"))
        conn.execute(text("INSERT INTO d_old VALUES ('11010119900307451X', 1), ('110101199003074526', 2)"))
        for code, table, key in (("OLD", "d_old", "id_number"), ("NUM", "d_num", "n")):
            conn.execute(
                text(
                    "INSERT INTO store_resource (resource_code, table_name, key_item, items, schema_version, "
                    "row_count, created_at) VALUES (:c, :t, :k, '[]', 1, 0, now())"
                ),
                {"c": code, "t": table, "k": key},
            )
    assert _collation(fresh_db, "d_old", "id_number") is None
    migrate.upgrade(fresh_db)
    assert _collation(fresh_db, "d_old", "id_number") == "C"
    assert _collation(fresh_db, "d_num", "n") is None  # not text: nothing to do
    with db.get_engine(fresh_db).connect() as conn:  # the rows and the key's uniqueness stay
        assert conn.execute(text("SELECT count(*) FROM d_old")).scalar_one() == 2
        with pytest.raises(Exception, match="duplicate key"):
            conn.execute(text("INSERT INTO d_old VALUES ('11010119900307451X', 3)"))
    command.downgrade(migrate.alembic_config(fresh_db), "a1c5e9f3b7d2")
    assert _collation(fresh_db, "d_old", "id_number") is None
