"""R7 R13: how a batch's rows reach a resource table — staged first, then applied in one transaction.

Rows are staged into temporary tables on one connection (SQLite: prepared executemany; PostgreSQL: COPY),
duplicates on the key and refused rows are set aside, completion rules fill missing fields from reference
resources, and only then one short transaction records the history of every changed record (set-based:
inserts, updates by row-hash change, deletes) and applies the changes. Readers see the old data or the
new, never a mix; a failure before the commit leaves the resource as it was.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gongshu.kernel.db import UTCDateTime
from gongshu.store.tables import LINEAGE, ROW_HASH

JSON_CHUNK = 40  # columns per json_object()/json_build_object() call (both have argument limits)
Q_COLUMNS = ("source_row", "column", "rule", "value", "message_zh", "message_en", "raw")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Loader:
    """R7: the staging and applying of one batch on one connection."""

    def __init__(self, conn: Connection, table_name: str, items: list[str], key: str, batch_id: int) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        q = conn.dialect.identifier_preparer.quote
        self.q = q
        self.table = q(table_name)
        self.items = items
        self.key = key
        self.columns = [*items, *LINEAGE]
        self.stg = f"stg_{batch_id}"
        self.qtab = f"stq_{batch_id}"
        self.deltab = f"std_{batch_id}"
        self.staged = 0

    # ---- staging -------------------------------------------------------------------------------------
    def create(self) -> None:
        if self.pg:
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE {self.stg} (LIKE {self.table})")
            raw = "json"
        else:
            self.conn.exec_driver_sql(
                f"CREATE TEMP TABLE {self.stg} AS SELECT * FROM main.{self.table} WHERE 0"
            )
            raw = "TEXT"
        self.conn.exec_driver_sql(
            f'CREATE TEMP TABLE {self.qtab} (source_row BIGINT, "column" VARCHAR(64), rule VARCHAR(40), '
            f"value TEXT, message_zh TEXT, message_en TEXT, raw {raw})"
        )
        self.conn.exec_driver_sql(f"CREATE TEMP TABLE {self.deltab} (k TEXT)")

    def drop(self) -> None:
        for name in (self.stg, self.qtab, self.deltab):
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cols = ", ".join(self.q(c) for c in columns)
        if self.pg:
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
            cur.close()

    def stage(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in `self.columns` order (items then lineage), values as canonical strings or None."""
        self._copy(self.stg, self.columns, rows)
        self.staged += len(rows)

    def stage_columns(
        self,
        columns: Sequence[pa.Array],
        source_rows: npt.NDArray[np.int64],
        hashes: list[str],
        *,
        batch_id: int,
        source: str,
        stamp: str,
    ) -> None:
        """Rows given column-wise (the items' canonical strings as Arrow arrays, then the source row
        numbers and the row hashes), staged without building a Python tuple per row. SQLite: one
        prepared executemany with the batch's constant lineage as literals; PostgreSQL: the chunk as one
        CSV text block through COPY (strings always quoted, NULL as an unquoted empty field)."""
        n = len(hashes)
        if not n:
            return
        if self.pg and self._utf8():
            table = pa.RecordBatch.from_arrays(
                [
                    *columns,
                    pa.array(np.full(n, batch_id, dtype=np.int64)),
                    pa.array([source] * n, pa.string()),
                    pa.array(source_rows, pa.int64()),
                    pa.array([stamp] * n, pa.string()),
                    pa.array([stamp] * n, pa.string()),
                    pa.array(hashes, pa.string()),
                ],
                names=[f"c{i}" for i in range(len(self.columns))],
            )
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
            cols = ", ".join(self.q(c) for c in self.columns)
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cur.copy(f"COPY {self.stg} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getbuffer())
        elif self.pg:
            self._copy(
                self.stg,
                self.columns,
                zip(
                    *(c.to_pylist() for c in columns),
                    [batch_id] * n,
                    [source] * n,
                    source_rows.tolist(),
                    [stamp] * n,
                    [stamp] * n,
                    hashes,
                    strict=True,
                ),
            )
        else:
            names = [*self.items, "_source_row", "_row_hash"]
            cols = ", ".join(
                self.q(c) for c in (*names, "_batch_id", "_source", "_ingested_at", "_updated_at")
            )
            marks = ", ".join("?" for _ in names)
            consts = ", ".join([str(int(batch_id)), _literal(source), _literal(stamp), _literal(stamp)])
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cur.executemany(
                f"INSERT INTO {self.stg} ({cols}) VALUES ({marks}, {consts})",
                zip(*(c.to_pylist() for c in columns), source_rows.tolist(), hashes, strict=True),
            )
            cur.close()
        self.staged += n

    def _utf8(self) -> bool:
        """COPY of a text block needs the session to speak UTF-8 (it does unless configured otherwise)."""
        info = self.conn.connection.driver_connection.info  # type: ignore[union-attr]
        return str(info.encoding).lower().replace("-", "").replace("_", "") == "utf8"

    def quarantine(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in Q_COLUMNS order; `raw` as a JSON text."""
        self._copy(self.qtab, Q_COLUMNS, rows)

    def stage_deletes(self, keys: Iterable[str]) -> None:
        self._copy(self.deltab, ("k",), ((k,) for k in keys))

    # ---- set-based steps before the apply ------------------------------------------------------------
    def deduplicate(self) -> int:
        """R13: keep the last occurrence of each key; earlier ones go to quarantine as "duplicate_key"."""
        k = self.q(self.key)
        try:  # the usual case, in one statement: the keys are unique, and the index serves the apply
            with self.conn.begin_nested():
                self.conn.exec_driver_sql(f"CREATE UNIQUE INDEX ux_{self.stg} ON {self.stg} ({k})")
            return 0
        except IntegrityError:
            pass
        self.conn.exec_driver_sql(f"CREATE INDEX ix_{self.stg} ON {self.stg} ({k}, _source_row)")
        later = f"EXISTS (SELECT 1 FROM {self.stg} t WHERE t.{k} = s.{k} AND t._source_row > s._source_row)"
        raw = self._json("s", self.items)
        n = self.conn.exec_driver_sql(
            f'INSERT INTO {self.qtab} (source_row, "column", rule, value, message_zh, message_en, raw) '
            f"SELECT s._source_row, '{self.key}', 'duplicate_key', CAST(s.{k} AS TEXT), "
            "'同一批次中主键重复，保留最后一次出现的记录', "
            "'Duplicate key within the batch; the last occurrence is kept', "
            f"{raw} FROM {self.stg} s WHERE {later}"
        ).rowcount
        self.conn.exec_driver_sql(
            f"DELETE FROM {self.stg} WHERE EXISTS (SELECT 1 FROM {self.stg} t "
            f"WHERE t.{k} = {self.stg}.{k} AND t._source_row > {self.stg}._source_row)"
        )
        return int(n)

    def complete(self, item: str, ref_table: str, ref_item: str, ref_key: str, by: str | None = None) -> int:
        """R13: fill a missing `item` from a reference resource's `ref_item`, matched by key (set-based)."""
        q = self.q
        mine, by_col = q(item), q(by or self.key)
        ref = f"{q(ref_table)} r WHERE r.{q(ref_key)} = {self.stg}.{by_col}"
        n = self.conn.exec_driver_sql(
            f"UPDATE {self.stg} SET {mine} = (SELECT r.{q(ref_item)} FROM {ref}) "
            f"WHERE {mine} IS NULL AND EXISTS (SELECT 1 FROM {ref} AND r.{q(ref_item)} IS NOT NULL)"
        ).rowcount
        return int(n)

    def keep_quarantine(self, batch_id: int) -> None:
        """R13: the staged quarantine rows become the batch's (in the one transaction)."""
        self.conn.exec_driver_sql(
            f'INSERT INTO store_quarantine_row (batch_id, source_row, "column", rule, value, message_zh, '
            f'message_en, raw) SELECT {int(batch_id)}, source_row, "column", rule, value, message_zh, '
            f"message_en, raw FROM {self.qtab}"
        )

    # ---- the apply (inside the one transaction) ------------------------------------------------------
    def _json(self, alias: str, columns: Sequence[str]) -> str:
        chunks = [columns[i : i + JSON_CHUNK] for i in range(0, len(columns), JSON_CHUNK)] or [[]]
        fn = "json_build_object" if self.pg else "json_object"
        parts = [
            f"{fn}({', '.join(f'{chr(39)}{c}{chr(39)}, {alias}.{self.q(c)}' for c in chunk)})"
            for chunk in chunks
        ]
        if len(parts) == 1:
            return parts[0]
        if self.pg:
            return "(" + " || ".join(f"{p}::jsonb" for p in parts) + ")::json"
        out = parts[0]
        for p in parts[1:]:
            out = f"json_patch({out}, {p})"
        return out

    def apply(
        self,
        *,
        full: bool,
        code: str,
        batch_id: int,
        actor_user_id: int | None,
        correction_ref: str | None,
        at: dt.datetime,
    ) -> dict[str, int]:
        """R7 R13: history for every changed record, then the changes — set-based, in the caller's
        transaction. Returns the counts of inserted, updated and deleted records."""
        k = self.q(self.key)
        hist = (
            "INSERT INTO store_record_history (resource_code, record_key, op, before, after, batch_id, "
            "correction_ref, actor_user_id, at) "
        )
        params = {"code": code, "batch": batch_id, "actor": actor_user_id, "ref": correction_ref, "at": at}

        def run(sql: str) -> int:
            stmt = text(sql).bindparams(bindparam("at", type_=UTCDateTime()))
            return int(self.conn.execute(stmt, params).rowcount)

        new, old = self._json("s", self.items), self._json("t", self.items)
        common = ":code, CAST({a}.{k} AS TEXT), '{op}', {before}, {after}, :batch, :ref, :actor, :at"

        def gone(t: str) -> str:
            if full:
                return f"NOT EXISTS (SELECT 1 FROM {self.stg} s WHERE s.{k} = {t}.{k})"
            return f"EXISTS (SELECT 1 FROM {self.deltab} d WHERE d.k = CAST({t}.{k} AS TEXT))"

        # A first load into an empty table (the bulk case) has nothing to delete or update: one history
        # insert and a plain insert. PostgreSQL inserts in key order (its indexes then fill page after
        # page); on SQLite, reading the staged rows in key order costs more than it saves.
        empty = self.conn.exec_driver_sql(f"SELECT 1 FROM {self.table} LIMIT 1").first() is None
        order = f" ORDER BY s.{k}" if self.pg else ""
        deleted = updated = 0
        if not empty:
            deleted = run(
                hist
                + "SELECT "
                + common.format(a="t", k=k, op="delete", before=old, after="NULL")
                + f" FROM {self.table} t WHERE {gone('t')}"
            )
            updated = run(
                hist
                + "SELECT "
                + common.format(a="s", k=k, op="update", before=old, after=new)
                + f" FROM {self.stg} s JOIN {self.table} t ON t.{k} = s.{k} "
                f"WHERE t.{ROW_HASH} <> s.{ROW_HASH}"
            )
        absent = "" if empty else f" WHERE NOT EXISTS (SELECT 1 FROM {self.table} t WHERE t.{k} = s.{k})"
        inserted = run(
            hist
            + "SELECT "
            + common.format(a="s", k=k, op="insert", before="NULL", after=new)
            + f" FROM {self.stg} s{absent}{order}"
        )
        if deleted:
            self.conn.exec_driver_sql(f"DELETE FROM {self.table} WHERE {gone(self.table)}")
        cols = ", ".join(self.q(c) for c in self.columns)
        if empty:
            self.conn.exec_driver_sql(
                f"INSERT INTO {self.table} ({cols}) SELECT {cols} FROM {self.stg} s{order}"
            )
        else:
            sets = ", ".join(
                f"{self.q(c)} = excluded.{self.q(c)}"
                for c in self.columns
                if c not in (self.key, "_ingested_at")
            )
            self.conn.exec_driver_sql(
                f"INSERT INTO {self.table} ({cols}) SELECT {cols} FROM {self.stg} WHERE true "
                f"ON CONFLICT ({k}) DO UPDATE SET {sets} WHERE {self.table}.{ROW_HASH} <> excluded.{ROW_HASH}"
            )
        return {"inserted": inserted, "updated": updated, "deleted": deleted}
