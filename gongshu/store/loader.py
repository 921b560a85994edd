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
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gongshu.kernel.db import UTCDateTime
from gongshu.store.models import RecordHistory
from gongshu.store.tables import LINEAGE, ROW_HASH, key_index_name

LOAD_OP = "load"  # the one history event of a first load (see `Loader.direct`)
DUPLICATE_ZH = "同一批次中主键重复，保留最后一次出现的记录"
DUPLICATE_EN = "Duplicate key within the batch; the last occurrence is kept"
IN_CHUNK = 500  # keys per IN (...) list when displacing duplicates of a first load

JSON_CHUNK = 40  # columns per json_object()/json_build_object() call (both have argument limits)
Q_COLUMNS = ("source_row", "column", "rule", "value", "message_zh", "message_en", "raw")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Loader:
    """R7: the staging and applying of one batch on one connection.

    `direct` is the first full load into an empty table (the bulk case), run in ONE write transaction
    that the caller holds from before the emptiness check to the commit: the accepted rows go straight
    into the resource's table, chunk by chunk (no staging copy), a key seen again in a later row
    displaces the earlier occurrence to quarantine (as the staged path's de-duplication does), and the
    record history gets one `load` event for the batch instead of one `insert` row per record — the
    records themselves carry the batch in their lineage, and `store.service.history` tells each record's
    insert from it (R13 R14)."""

    def __init__(
        self,
        conn: Connection,
        table_name: str,
        items: list[str],
        key: str,
        batch_id: int,
        *,
        direct: bool = False,
    ) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        q = conn.dialect.identifier_preparer.quote
        self.q = q
        self.table = q(table_name)
        self.table_name = table_name
        self.items = items
        self.key = key
        self.columns = [*items, *LINEAGE]
        self.direct = direct
        self.stg = self.table if direct else f"stg_{batch_id}"
        self.stg_id = batch_id
        self._open: tuple[Any, Any] | None = None  # the COPY streaming a direct load (PostgreSQL)
        self._pk = ""
        self.qtab = f"stq_{batch_id}"
        self.deltab = f"std_{batch_id}"
        self.staged = 0
        self.displaced = 0  # direct: earlier occurrences of a key set aside as duplicates
        self._constant: tuple[int, str, str] | None = None  # PostgreSQL: the lineage set as defaults

    # ---- staging -------------------------------------------------------------------------------------
    def create(self) -> None:
        if self.direct and self.pg:
            # PostgreSQL builds the key's index once, sorted, after the rows are in (`_restore_key`):
            # ~4x cheaper than inserting a million random keys into it one by one. The ALTER holds the
            # table until the commit; nobody reads an empty table's rows meanwhile.
            self._pk = str(
                self.conn.exec_driver_sql(
                    "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = "
                    f"CAST('{self.table.replace(chr(39), chr(39) * 2)}' AS regclass)"
                ).scalar_one()
            )
            self.conn.exec_driver_sql(f"ALTER TABLE {self.table} DROP CONSTRAINT {self.q(self._pk)}")
        elif self.direct:
            # SQLite: a table keyed by a named unique index (`store.tables.create`) has it dropped for the
            # load and built once after the rows (`_restore_key`), as on PostgreSQL; a table with an
            # inline primary key (made before) keeps it, and each chunk displaces its earlier keys.
            name = key_index_name(self.table_name)
            found = self.conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).first()
            if found is not None:
                self._pk = name
                self.conn.exec_driver_sql(f"DROP INDEX {self.q(name)}")
        elif self.pg:
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE {self.stg} (LIKE {self.table})")
        else:
            self.conn.exec_driver_sql(
                f"CREATE TEMP TABLE {self.stg} AS SELECT * FROM main.{self.table} WHERE 0"
            )
        raw = "json" if self.pg else "TEXT"
        self.conn.exec_driver_sql(
            f'CREATE TEMP TABLE {self.qtab} (source_row BIGINT, "column" VARCHAR(64), rule VARCHAR(40), '
            f"value TEXT, message_zh TEXT, message_en TEXT, raw {raw})"
        )
        self.conn.exec_driver_sql(f"CREATE TEMP TABLE {self.deltab} (k TEXT)")

    def drop(self) -> None:
        for name in (self.qtab, self.deltab) if self.direct else (self.stg, self.qtab, self.deltab):
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
        if not self.direct or self._pk:  # a direct load without its key index until the end
            self._write_columns(columns, source_rows, hashes, batch_id=batch_id, source=source, stamp=stamp)
        else:
            columns, source_rows, hashes = self._last_of_each_key(columns, source_rows, hashes)
            try:  # the usual case: no key of the chunk is in the table yet
                with self.conn.begin_nested():
                    self._write_columns(
                        columns, source_rows, hashes, batch_id=batch_id, source=source, stamp=stamp
                    )
            except (IntegrityError, self.conn.dialect.loaded_dbapi.IntegrityError):
                self._displace(hashes if self.key == ROW_HASH else columns[self.items.index(self.key)])
                self._write_columns(
                    columns, source_rows, hashes, batch_id=batch_id, source=source, stamp=stamp
                )
        self.staged += n

    def _key_values(self, columns: Sequence[pa.Array], hashes: list[str]) -> list[Any]:
        return hashes if self.key == ROW_HASH else columns[self.items.index(self.key)].to_pylist()

    def _last_of_each_key(
        self, columns: Sequence[pa.Array], source_rows: npt.NDArray[np.int64], hashes: list[str]
    ) -> tuple[list[pa.Array], npt.NDArray[np.int64], list[str]]:
        """Direct load, R13: within a chunk, the last occurrence of a key is kept; the earlier ones go to
        quarantine as `duplicate_key`, as in the staged path."""
        keys = hashes if self.key == ROW_HASH else columns[self.items.index(self.key)]
        distinct = len(set(keys)) if isinstance(keys, list) else len(pc.unique(keys))
        if distinct == len(hashes):
            return list(columns), source_rows, hashes
        values = self._key_values(columns, hashes)
        seen: set[Any] = set()
        keep = np.ones(len(values), dtype=bool)
        for i in range(len(values) - 1, -1, -1):
            if values[i] in seen:
                keep[i] = False
            seen.add(values[i])
        dropped = np.flatnonzero(~keep)
        lists = [c.to_pylist() for c in columns]
        self.quarantine(
            [
                self._duplicate(
                    int(source_rows[i]),
                    values[i],
                    {n: col[i] for n, col in zip(self.items, lists, strict=True)},
                )
                for i in dropped
            ]
        )
        self.displaced += len(dropped)
        mask = pa.array(keep)
        return (
            [c.filter(mask) for c in columns],
            source_rows[keep],
            [h for h, k in zip(hashes, keep, strict=True) if k],
        )

    def _duplicate(self, source_row: int, key: Any, values: dict[str, Any]) -> tuple[Any, ...]:
        raw = json.dumps({k: _text(v) for k, v in values.items()}, ensure_ascii=False)
        return (source_row, self.key, "duplicate_key", _text(key), DUPLICATE_ZH, DUPLICATE_EN, raw)

    def _displace(self, keys: pa.Array | list[str]) -> None:
        """Direct load, R13: keys of this chunk already loaded from earlier rows — those earlier rows
        leave the table for quarantine (`duplicate_key`), so the later occurrence is the one kept."""
        values = keys if isinstance(keys, list) else keys.to_pylist()
        k = self.q(self.key)
        names = ", ".join(self.q(c) for c in self.items)
        found = 0
        for i in range(0, len(values), IN_CHUNK):
            part = values[i : i + IN_CHUNK]
            select_ = text(
                f"SELECT _source_row, {k}, {names} FROM {self.table} WHERE {k} IN :keys"
            ).bindparams(bindparam("keys", expanding=True))
            rows = self.conn.execute(select_, {"keys": part}).all()
            if not rows:
                continue
            self.quarantine(
                [
                    self._duplicate(int(r[0] or 0), r[1], dict(zip(self.items, r[2:], strict=True)))
                    for r in rows
                ]
            )
            delete = text(f"DELETE FROM {self.table} WHERE {k} IN :keys").bindparams(
                bindparam("keys", expanding=True)
            )
            self.conn.execute(delete, {"keys": [r[1] for r in rows]})
            found += len(rows)
        self.displaced += found

    def _write_columns(
        self,
        columns: Sequence[pa.Array],
        source_rows: npt.NDArray[np.int64],
        hashes: list[str],
        *,
        batch_id: int,
        source: str,
        stamp: str,
    ) -> None:
        n = len(hashes)
        if self.pg and self._utf8():
            self._constants(batch_id=batch_id, source=source, stamp=stamp)
            varying = [*self.items, "_source_row", ROW_HASH]
            table = pa.RecordBatch.from_arrays(
                [*columns, pa.array(source_rows, pa.int64()), pa.array(hashes, pa.string())],
                names=[f"c{i}" for i in range(len(varying))],
            )
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
            cols = ", ".join(self.q(c) for c in varying)
            statement = f"COPY {self.stg} ({cols}) FROM STDIN WITH (FORMAT csv)"
            if self.direct:
                self._stream(statement, buf.getvalue())
            else:
                cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cur.copy(statement) as copy:
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

    def _constants(self, *, batch_id: int, source: str, stamp: str) -> None:
        """PostgreSQL: the batch's constant lineage (batch, source, ingested and updated at) becomes the
        staging table's column defaults, once, before the first COPY; the COPY then carries only the
        varying columns. The server parsing two timestamps and two more fields per row cost more than
        any other step of a load. A direct load drops the defaults again before its commit
        (`_drop_constants`); a staging table dies with its connection."""
        if self._constant:
            assert self._constant == (batch_id, source, stamp), "one batch, one source, one time per load"
            return
        self.end_stream()
        values = {
            "_batch_id": str(int(batch_id)),
            "_source": _literal(source),
            "_ingested_at": _literal(stamp),
            "_updated_at": _literal(stamp),
        }
        sets = ", ".join(f"ALTER COLUMN {self.q(c)} SET DEFAULT {v}" for c, v in values.items())
        self.conn.exec_driver_sql(f"ALTER TABLE {self.stg} {sets}")
        self._constant = (batch_id, source, stamp)

    def _drop_constants(self) -> None:
        """Direct load on PostgreSQL: the resource's table keeps no lineage defaults after the load."""
        if self._constant and self.direct:
            self.end_stream()
            drops = ", ".join(
                f"ALTER COLUMN {self.q(c)} DROP DEFAULT"
                for c in ("_batch_id", "_source", "_ingested_at", "_updated_at")
            )
            self.conn.exec_driver_sql(f"ALTER TABLE {self.stg} {drops}")
        self._constant = None

    def _utf8(self) -> bool:
        """COPY of a text block needs the session to speak UTF-8 (it does unless configured otherwise)."""
        info = self.conn.connection.driver_connection.info  # type: ignore[union-attr]
        return str(info.encoding).lower().replace("-", "").replace("_", "") == "utf8"

    def quarantine(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in Q_COLUMNS order; `raw` as a JSON text. A refused value holding U+0000 is kept with
        it written as the escape `\\u0000` (no database stores the character itself in text; R13: the
        value is kept, not dropped)."""
        if rows:
            self.end_stream()
            value = Q_COLUMNS.index("value")
            rows = [
                (*r[:value], _escape_nul(r[value]), *r[value + 1 :])
                if isinstance(r[value], str) and "\x00" in r[value]
                else r
                for r in rows
            ]
            self._copy(self.qtab, Q_COLUMNS, rows)

    def _stream(self, statement: str, block: bytes) -> None:
        """PostgreSQL direct load: the chunks go through ONE open COPY, handed to a writer thread, so the
        server stores a chunk while the next one is read and checked; any other statement on the
        connection ends it first (`end_stream`)."""
        if self._open is None:
            cur = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cm = cur.copy(statement, writer=QueuedLibpqWriter(cur))
            self._open = (cm, cm.__enter__())
        self._open[1].write(block)

    def end_stream(self, error: BaseException | None = None) -> None:
        """Finish the open COPY (or, after `error`, abort it: the server discards it)."""
        if self._open is not None:
            cm, self._open = self._open[0], None
            if error is None:
                cm.__exit__(None, None, None)
            else:
                cm.__exit__(type(error), error, error.__traceback__)

    def stage_deletes(self, keys: Iterable[str]) -> None:
        self._copy(self.deltab, ("k",), ((k,) for k in keys))

    # ---- set-based steps before the apply ------------------------------------------------------------
    def deduplicate(self) -> int:
        """R13: keep the last occurrence of each key; earlier ones go to quarantine as "duplicate_key"."""
        if self.direct and self._pk:
            return self._restore_key()
        if self.direct:
            return self.displaced  # done chunk by chunk as the rows went in
        k = self.q(self.key)
        try:  # the usual case, in one statement: the keys are unique, and the index serves the apply
            with self.conn.begin_nested():
                self.conn.exec_driver_sql(f"CREATE UNIQUE INDEX ux_{self.stg} ON {self.stg} ({k})")
            return 0
        except IntegrityError:
            pass
        self.conn.exec_driver_sql(f"CREATE INDEX ix_{self.stg} ON {self.stg} ({k}, _source_row)")
        return self._drop_earlier(self.stg)

    def _drop_earlier(self, table: str) -> int:
        """R13: rows of `table` with a later row of the same key (indexed on key and source row) go to
        quarantine as `duplicate_key` and leave the table."""
        k = self.q(self.key)
        later = f"EXISTS (SELECT 1 FROM {table} t WHERE t.{k} = s.{k} AND t._source_row > s._source_row)"
        raw = self._json("s", self.items)
        n = self.conn.exec_driver_sql(
            f'INSERT INTO {self.qtab} (source_row, "column", rule, value, message_zh, message_en, raw) '
            f"SELECT s._source_row, '{self.key}', 'duplicate_key', CAST(s.{k} AS TEXT), "
            f"'{DUPLICATE_ZH}', '{DUPLICATE_EN}', "
            f"{raw} FROM {table} s WHERE {later}"
        ).rowcount
        self.conn.exec_driver_sql(
            f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {table} t "
            f"WHERE t.{k} = {table}.{k} AND t._source_row > {table}._source_row)"
        )
        return int(n)

    def _restore_key(self) -> int:
        """Direct load: the key's index again, built in one sort. A duplicate key refuses it: then the
        earlier occurrences go to quarantine first (R13), and the index is built after."""
        self.end_stream()
        self._drop_constants()
        k = self.q(self.key)
        if self.pg:
            add = f"ALTER TABLE {self.table} ADD CONSTRAINT {self.q(self._pk)} PRIMARY KEY ({k})"
            self.conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        else:
            add = f"CREATE UNIQUE INDEX {self.q(self._pk)} ON {self.table} ({k})"
        try:
            with self.conn.begin_nested():
                self.conn.exec_driver_sql(add)
            return 0
        except IntegrityError:
            pass
        ix = self.q(f"ix_dup_{self.stg_id}")
        self.conn.exec_driver_sql(f"CREATE INDEX {ix} ON {self.table} ({k}, _source_row)")
        self.displaced = self._drop_earlier(self.table)
        self.conn.exec_driver_sql(f"DROP INDEX {ix}")
        self.conn.exec_driver_sql(add)
        return self.displaced

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

    def completing(
        self, item: str, ref_table: str, ref_item: str, ref_key: str, by: str | None = None
    ) -> list[tuple[Any, Any]]:
        """R26: the (matched key, value) pairs that `complete` with the same arguments is about to copy from
        the reference — the records it reads, for the read's audit entry (run just before `complete`)."""
        q = self.q
        mine, by_col = q(item), q(by or self.key)
        ref = f"{q(ref_table)} r WHERE r.{q(ref_key)} = {self.stg}.{by_col}"
        rows = self.conn.exec_driver_sql(
            f"SELECT {self.stg}.{by_col}, (SELECT r.{q(ref_item)} FROM {ref}) FROM {self.stg} "
            f"WHERE {mine} IS NULL AND EXISTS (SELECT 1 FROM {ref} AND r.{q(ref_item)} IS NOT NULL)"
        )
        return [(r[0], r[1]) for r in rows]

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
        if self.direct:
            return self._record_load(code, batch_id, actor_user_id, correction_ref, at)
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
                f"WHERE {self._changed('t', 's')}"
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
                f"ON CONFLICT ({k}) DO UPDATE SET {sets} WHERE {self._changed(self.table, 'excluded')}"
            )
        return {"inserted": inserted, "updated": updated, "deleted": deleted}

    def _changed(self, old: str, new: str) -> str:
        """R13: does a record's new version differ from the stored one? Compared by value, item by item,
        in the columns' types (NULL equal to NULL): the same record sent as a spreadsheet (10.0, a date
        cell) and as a CSV (10, 2024-01-02) is not a change, though its text — and so its row hash —
        differs."""
        if self.pg:
            a, b = (", ".join(f"{alias}.{self.q(c)}" for c in self.items) for alias in (old, new))
            return f"ROW({a}) IS DISTINCT FROM ROW({b})"
        same = " AND ".join(f"{old}.{self.q(c)} IS {new}.{self.q(c)}" for c in self.items)
        return f"NOT ({same})"

    def _record_load(
        self, code: str, batch_id: int, actor_user_id: int | None, correction_ref: str | None, at: dt.datetime
    ) -> dict[str, int]:
        """Direct load, R13: the rows are in; the history gets the batch's one `load` event."""
        inserted = self.staged - self.displaced
        self.conn.execute(
            insert(RecordHistory).values(
                resource_code=code,
                record_key="*",
                op=LOAD_OP,
                before=None,
                after={"batch_id": batch_id, "records": inserted},
                batch_id=batch_id,
                correction_ref=correction_ref,
                actor_user_id=actor_user_id,
                at=at,
            )
        )
        return {"inserted": inserted, "updated": 0, "deleted": 0}


def _escape_nul(value: str) -> str:
    return value.replace("\x00", "\\u0000")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
