"""R7: streaming readers of the files departments aggregate — CSV (UTF-8, UTF-8 with BOM, GBK, GB18030),
XLSX, JSON Lines and Parquet. Every reader yields pyarrow record batches of string columns (None for an
empty cell) with the source row number of each row; memory stays bounded by the batch size.

Malformed input gives a precise error (ingest.*) with the row or byte offset, so that nothing is stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gongshu.aggregation.decoding import (
    BATCH_ROWS,
    CSV_BLOCK,
    ENCODINGS,
    SAMPLE,
    RowNumbers,
    Source,
    Transcoder,
    ingest_error,
    open_bytes,
)
from gongshu.kernel.errors import ValidationFailed

__all__ = ["BATCH_ROWS", "ENCODINGS", "Source", "open_source", "without_helper_columns"]

_ROW = re.compile(r"Row #(\d+)")
_LINE_END = re.compile(r"\r\n?|\n")
JSON_MAX_DEPTH = 64  # nesting of arrays and objects in a JSON Lines record (a platform limit: a record's
# values are cells; deeper input would exhaust the parser's recursion)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _csv_error(exc: pa.ArrowInvalid, offset: int = 0) -> ValidationFailed:
    """pyarrow counts rows from the first it parses (the header, skipped, is not counted)."""
    msg = str(exc)
    row = int(m.group(1)) + offset if (m := _ROW.search(msg)) else None
    counts = re.search(r"Expected (\d+) columns, got (\d+): (.*)", msg, re.S)
    if counts and counts.group(3).count('"') % 2 == 1:
        return ingest_error(
            "ingest.csv_quoting", f"第 {row} 行引号不匹配", f"Unbalanced quotes at row {row}", row=row
        )
    if counts:
        exp, got = int(counts.group(1)), int(counts.group(2))
        return ingest_error(
            "ingest.column_count",
            f"第 {row} 行应有 {exp} 列，实际 {got} 列",
            f"Row {row} has {got} columns, expected {exp}",
            row=row,
            expected=exp,
            actual=got,
        )
    if "straddling object" in msg:  # a line longer than a parse block: refused like one over the line cap
        mb = CSV_BLOCK >> 20
        return ingest_error(
            "ingest.line_too_long",
            f"文件中有超过 {mb} MB 的行（CSV 的一行须在一个 {mb} MB 的解析块之内）",
            f"A line is longer than {mb} MB (a CSV line must fit in one {mb} MB parse block)",
            limit=CSV_BLOCK,
            row=row,
        )
    return ingest_error("ingest.csv_malformed", f"CSV 文件格式错误：{msg}", f"Malformed CSV: {msg}", row=row)


def _header(path: Path, enc: str) -> list[str]:
    with path.open("rb") as fh:
        text = Transcoder(fh, enc).read(SAMPLE).decode("utf-8", "replace")
    line = _LINE_END.split(text, maxsplit=1)[0]  # CR, LF or CR LF: pyarrow reads all three (old Macs: CR)
    try:
        names = [c.strip().lstrip("\ufeff") for c in next(csv.reader([line]), [])]
    except csv.Error as exc:
        raise ingest_error(
            "ingest.csv_malformed",
            f"CSV 文件的表头无法读取：{exc}",
            f"The CSV header cannot be read: {exc}",
            row=1,
        ) from exc
    if not any(names):
        raise ingest_error("ingest.empty_file", "文件没有表头", "The file has no header row")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ingest_error(
            "ingest.duplicate_column",
            f"表头列名重复：{'、'.join(dupes)}",
            f"Duplicate column names: {', '.join(dupes)}",
            columns=dupes,
        )
    return names


def read_csv(path: Path, encoding: str | None = None, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: CSV streamed through pyarrow (every column a string), after transcoding to UTF-8."""
    fh, enc = open_bytes(path, encoding)
    fh.close()
    names = _header(path, enc)
    fh = path.open("rb")
    try:
        reader = pacsv.open_csv(
            Transcoder(fh, enc),
            read_options=pacsv.ReadOptions(
                block_size=CSV_BLOCK, use_threads=False, column_names=names, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        fh.close()
        raise _csv_error(exc) from exc

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        row = 2
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise _csv_error(exc, offset=1) from exc
                for start in range(0, batch.num_rows, batch_rows):
                    part = batch.slice(start, batch_rows)
                    yield part, np.arange(row, row + part.num_rows, dtype=np.int64)
                    row += part.num_rows
        finally:
            fh.close()

    return Source(names, enc, "csv", chunks())


def cell_text(value: Any) -> str | None:
    """A spreadsheet or JSON value as the string the checks read (None for empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return (
            value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M:%S")
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text if text != "" else None


def _batches(
    columns: list[str], rows: Iterator[tuple[int, list[Any]]], batch_rows: int
) -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
    buf: list[list[Any]] = []
    numbers: list[int] = []
    for n, values in rows:
        buf.append(values)
        numbers.append(n)
        if len(buf) >= batch_rows:
            yield _to_batch(columns, buf), np.array(numbers, dtype=np.int64)
            buf, numbers = [], []
    if buf:
        yield _to_batch(columns, buf), np.array(numbers, dtype=np.int64)


def _to_batch(columns: list[str], buf: list[list[Any]]) -> pa.RecordBatch:
    arrays = [
        pa.array([cell_text(r[i]) if i < len(r) else None for r in buf], pa.string())
        for i in range(len(columns))
    ]
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def read_xlsx(path: Path, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: the first worksheet of an XLSX workbook, read-only and streamed; the first row is the header."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file; its text is not for users
        raise ingest_error(
            "ingest.xlsx_malformed",
            "无法读取该文件：它不是有效的 Excel 工作簿（.xlsx），请在 Excel 中另存为 .xlsx 格式后重新上传",
            "Cannot read the file: it is not a valid Excel workbook (.xlsx); save it as .xlsx in Excel and "
            "upload it again",
        ) from exc
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None or not any(h is not None for h in header):
        wb.close()
        raise ingest_error("ingest.empty_file", "文件为空", "The file is empty")
    columns = [str(h).strip() if h is not None else "" for h in header]
    while columns and columns[-1] == "":
        columns.pop()
    width = len(columns)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        n = 1
        for values in it:
            n += 1
            if all(v is None or str(v).strip() == "" for v in values):
                continue  # a blank row of the sheet is not a record
            if any(v is not None and str(v).strip() != "" for v in values[width:]):
                raise ingest_error(
                    "ingest.column_count",
                    f"第 {n} 行超出表头的列数",
                    f"Row {n} has cells beyond the header",
                    row=n,
                    expected=width,
                )
            yield n, list(values[:width])

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        try:
            yield from _batches(columns, rows(), batch_rows)
        finally:
            wb.close()

    return Source(columns, "", "xlsx", chunks())


def _check_depth(line: str, n: int) -> None:
    """R7: a line nested deeper than JSON_MAX_DEPTH is refused before it is parsed (the parser recurses
    once per level). Only a line with that many brackets is scanned, strings skipped."""
    if line.count("[") + line.count("{") <= JSON_MAX_DEPTH:
        return
    depth = 0
    for m in _JSON_TOKEN.finditer(line):
        token = m.group(0)
        if token in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                raise ingest_error(
                    "ingest.json_too_deep",
                    f"第 {n} 行的 JSON 嵌套超过 {JSON_MAX_DEPTH} 层",
                    f"Line {n} nests JSON arrays and objects more than {JSON_MAX_DEPTH} levels deep",
                    row=n,
                    limit=JSON_MAX_DEPTH,
                )
        elif token in "]}":
            depth -= 1


def _check_surrogates(obj: dict[str, Any], n: int) -> None:
    """R7: JSON may escape half of a UTF-16 surrogate pair alone (`"\\ud800"`), which is no character: no
    database stores it. Refused with the line and the field (as the push API does: `push.invalid_character`),
    in a field name or anywhere in a value."""
    for name, value in obj.items():
        stack: list[Any] = [value]
        bad = bool(_SURROGATE.search(name))
        while stack and not bad:
            v = stack.pop()
            if isinstance(v, dict):
                stack.extend(v.keys())
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, str):
                bad = bool(_SURROGATE.search(v))
        if bad:
            shown = name.encode("utf-8", "backslashreplace").decode()[:60]
            raise ingest_error(
                "ingest.invalid_character",
                f"第 {n} 行的字段 {shown} 含有不成对的代理字符（如 \\ud800），不是有效的 Unicode 文本",
                f"Line {n}, field {shown}, holds a lone surrogate (such as \\ud800), which is not valid "
                "Unicode text",
                row=n,
                field=shown,
            )


def read_jsonl(path: Path, encoding: str | None = None, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: JSON Lines, one object a line; the first object's keys are the columns. A line nested deeper
    than JSON_MAX_DEPTH or holding a lone surrogate is refused with its number."""
    fh, enc = open_bytes(path, encoding)
    text = io.TextIOWrapper(Transcoder(fh, enc), encoding="utf-8")  # type: ignore[type-var]
    lines = enumerate(text, start=1)

    def parsed() -> Iterator[tuple[int, dict[str, Any]]]:
        for n, line in lines:
            if not line.strip():
                continue
            _check_depth(line, n)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ingest_error(
                    "ingest.json_malformed",
                    f"第 {n} 行不是有效的 JSON：{exc.msg}",
                    f"Line {n} is not valid JSON: {exc.msg}",
                    row=n,
                ) from exc
            if not isinstance(obj, dict):
                raise ingest_error(
                    "ingest.json_malformed",
                    f"第 {n} 行不是 JSON 对象",
                    f"Line {n} is not a JSON object",
                    row=n,
                )
            if "\\u" in line and _SURROGATE_ESCAPE.search(line):
                _check_surrogates(obj, n)
            yield n, obj

    stream = parsed()
    first = next(stream, None)
    if first is None:
        fh.close()
        raise ingest_error("ingest.empty_file", "文件为空", "The file is empty")
    columns = list(first[1])

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, obj in itertools.chain([first], stream):
            extra = [k for k in obj if k not in columns]
            if extra:
                raise ingest_error(
                    "store.schema_mismatch",
                    f"第 {n} 行有多余的字段：{'、'.join(extra)}",
                    f"Line {n} has unexpected fields: {', '.join(extra)}",
                    missing=[],
                    unexpected=extra,
                    row=n,
                )
            yield n, [obj.get(c) for c in columns]

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        try:
            yield from _batches(columns, rows(), batch_rows)
        finally:
            fh.close()

    return Source(columns, enc, "jsonl", chunks())


def read_parquet(path: Path, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: Parquet read by record batches; every column cast to its string form."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ingest_error(
            "ingest.parquet_malformed",
            f"无法读取 Parquet 文件：{exc}",
            f"Cannot read the Parquet file: {exc}",
        ) from exc
    columns = list(pf.schema_arrow.names)
    if pf.metadata.num_rows == 0:
        raise ingest_error("ingest.empty_file", "文件为空", "The file is empty")

    def as_string(arr: pa.Array) -> pa.Array:
        if pa.types.is_timestamp(arr.type):
            return pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")
        if pa.types.is_boolean(arr.type):
            return pc.if_else(arr, "1", "0")
        return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        row = 1
        for batch in pf.iter_batches(batch_size=batch_rows):
            out = pa.RecordBatch.from_arrays([as_string(c) for c in batch.columns], names=columns)
            yield out, np.arange(row, row + out.num_rows, dtype=np.int64)
            row += out.num_rows

    return Source(columns, "", "parquet", chunks())


def open_source(
    path: Path, *, encoding: str | None = None, fmt: str | None = None, batch_rows: int = BATCH_ROWS
) -> Source:
    """R7: open a file by its format (from the name unless given)."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    fmt = {"ndjson": "jsonl", "json": "jsonl", "txt": "csv", "pq": "parquet"}.get(fmt, fmt)
    if fmt == "csv":
        return read_csv(path, encoding, batch_rows)
    if fmt == "xlsx":
        return read_xlsx(path, batch_rows)
    if fmt == "jsonl":
        return read_jsonl(path, encoding, batch_rows)
    if fmt == "parquet":
        return read_parquet(path, batch_rows)
    raise ingest_error(
        "ingest.format_unknown",
        f"不支持的文件格式：{fmt}（支持 CSV、XLSX、JSONL、Parquet）",
        f"Unsupported file format: {fmt} (CSV, XLSX, JSONL, Parquet)",
        format=fmt,
    )


def without_helper_columns(src: Source, carried: list[tuple[RowNumbers, pa.Array]] | None = None) -> Source:
    """R13: a resubmission may be the refused-rows download with its values corrected; the two columns
    that download adds to the published items (`_source_row`, `_problems`) are not data, and are dropped
    before the schema lock. Only they: any other extra column is still refused by the lock (R9), with the
    precise column diff. For resubmissions only — another load refuses them like any unknown column.
    `carried`, if given, receives per chunk the source row numbers and the `_source_row` values (as
    received) of its lines: the original batch's rows they bring again (`store.batches.ResubmittedRow`)."""
    from gongshu.store.batches import HELPER_COLUMNS, SOURCE_ROW  # defined with the download

    keep = [i for i, c in enumerate(src.columns) if c not in HELPER_COLUMNS]
    if len(keep) == len(src.columns):
        return src
    names = [src.columns[i] for i in keep]
    origin = src.columns.index(SOURCE_ROW) if SOURCE_ROW in src.columns else None
    rest = src.chunks

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        try:
            for batch, numbers in rest:
                if carried is not None and origin is not None and batch.num_rows:
                    carried.append((numbers, batch.column(origin)))
                yield pa.RecordBatch.from_arrays([batch.column(i) for i in keep], names=names), numbers
        finally:
            close = getattr(rest, "close", None)
            if close is not None:
                close()

    return Source(names, src.encoding, src.format, chunks())
