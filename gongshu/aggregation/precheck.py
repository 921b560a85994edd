"""R13 before the load: check a file against a resource's published items and rules without storing
anything — the provider's data officer finds every problem row before the upload (预检).

The file goes through the same pipeline as a load (decoding, R9 schema lock, transforms, column checks,
declared rules, de-duplication on the key), so a check and the load that follows it agree row for row:
the report counts received, accepted, refused and de-duplicated rows as the batch report would, sums the
problems by column and rule, and lists the first problem cells with their source row. Completion rules
(filling a missing field from a reference resource) read stored data and run at the load; the report
names how many there are — but each is decided here as at the load (R26: the access decision point must
still let the provider read its reference), and a refused one refuses the check as it would fail the
load. Nothing is written but the audit entry of the check itself (R26), or of the refused read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gongshu.aggregation.checker import checked
from gongshu.aggregation.ingest import admit, no_rows
from gongshu.aggregation.readers import BATCH_ROWS, open_source
from gongshu.kernel.access.service import AccessDenied
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.quality import completion
from gongshu.quality.rules import specs_of
from gongshu.store import service as store
from gongshu.store.loader import DUPLICATE_EN, DUPLICATE_ZH
from gongshu.store.tables import ROW_HASH

SAMPLE_CELLS = 200  # problem cells listed in a check's report (every one is counted)
DUPLICATE = "duplicate_key"


def check_file(
    actor: Actor,
    resource_code: str,
    path: Path,
    *,
    encoding: str | None = None,
    fmt: str | None = None,
    filename: str | None = None,
    sample: int = SAMPLE_CELLS,
    url: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, Any]:
    """R13: the report of checking `path` against the resource, nothing stored. Who may load the
    resource may check a file for it (the access decision point, as for the load); a file the load would
    refuse whole (unreadable, wrong columns, no data row) raises the same error here."""
    src = open_source(Path(path), encoding=encoding, fmt=fmt, batch_rows=batch_rows)
    denied: AccessDenied | None = None
    with read_scope(url) as s:
        res = store.get_resource(s, resource_code)
        mapping = admit(s, actor, res, src.columns)
        rules = specs_of(s, resource_code)
        items, key_item = list(res.items), str(res.key_item)
        try:  # R13 R26: a completion the load would refuse refuses the check (`quality.completion`)
            completion.enforce_references(s, actor, resource_code, rules, path="precheck")
        except AccessDenied as exc:
            denied = exc
    if denied is not None:
        raise completion.audited_refusal(denied, url) from denied
    started = now()
    received = refused = 0
    problems: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], tuple[str, str]] = {}
    cells: list[dict[str, Any]] = []
    keys: list[pa.Array] = []
    rows: list[npt.NDArray[np.int64]] = []
    by_key = key_item != ROW_HASH
    key_at = [str(i["name"]) for i in items].index(key_item) if by_key else -1
    for part in checked(items, key_item, src, mapping, rules, hashes=not by_key):
        received += part.received
        refused += part.refused
        for q in part.quarantine:
            source_row, column, rule, value, zh, en = q[:6]
            problems[(column, rule)] += 1
            messages.setdefault((column, rule), (zh, en))
            if len(cells) < sample:
                cells.append(_cell(source_row, column, rule, value, zh, en))
        keys.append(part.columns[key_at] if by_key else pa.array(part.hashes or [], pa.string()))
        rows.append(part.numbers)
    if received == 0:
        raise no_rows()
    deduplicated = _duplicates(keys, rows, key_item, problems, messages, cells, sample)
    report = {
        "resource_code": resource_code,
        "filename": filename or Path(path).name,
        "encoding": src.encoding,
        "format": src.format,
        "received": received,
        "accepted": received - refused - deduplicated,
        "refused": refused,
        "deduplicated": deduplicated,
        "problems": [
            {
                "column": column,
                "rule": rule,
                "count": count,
                "message": messages[(column, rule)][0],
                "message_en": messages[(column, rule)][1],
            }
            for (column, rule), count in sorted(problems.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "cells": sorted(cells, key=lambda c: (c["source_row"], c["column"])),
        "cells_shown": len(cells),
        "cells_total": sum(problems.values()),
        "completion_rules": sum(r.kind == "complete" for r in rules),
        "checked_at": started.isoformat(),
        "stored": False,
    }
    with session_scope(url) as s:
        record(
            s,
            actor,
            "store.file_checked",
            object_type="resource",
            object_id=resource_code,
            detail={k: report[k] for k in ("filename", "received", "accepted", "refused", "deduplicated")},
        )
    return report


def _cell(source_row: int, column: str, rule: str, value: Any, zh: str, en: str) -> dict[str, Any]:
    return {
        "source_row": int(source_row),
        "column": column,
        "rule": rule,
        "value": value,
        "message": zh,
        "message_en": en,
    }


def _duplicates(
    keys: list[pa.Array],
    rows: list[npt.NDArray[np.int64]],
    key_item: str,
    problems: Counter[tuple[str, str]],
    messages: dict[tuple[str, str], tuple[str, str]],
    cells: list[dict[str, Any]],
    sample: int,
) -> int:
    """R13: a key seen again among the accepted rows — the last occurrence is kept, each earlier one is
    de-duplicated (as the load does); they are counted and the first are listed. The keys are compared
    by a 64-bit hash first (8 bytes a row, sorted: no hash table of every key in memory), then exactly
    among the rows whose hashes meet."""
    if not keys:
        return 0
    digests = np.concatenate(
        [np.fromiter(map(hash, k.to_pylist()), dtype=np.int64, count=len(k)) for k in keys]
    )
    order = np.argsort(digests, kind="stable")
    ranked = digests[order]
    meet = np.flatnonzero(ranked[1:] == ranked[:-1])
    if not len(meet):
        return 0
    positions = np.unique(np.concatenate([order[meet], order[meet + 1]]))  # file order
    every = pa.chunked_array(keys, pa.string())
    values = every.take(pa.array(positions)).to_pylist()
    numbers = np.concatenate(rows)[positions]
    seen: set[Any] = set()
    earlier: list[tuple[int, Any]] = []  # the last occurrence of a key stays; every earlier one goes
    for number, value in zip(numbers[::-1], values[::-1], strict=True):
        if value in seen:
            earlier.append((int(number), value))
        seen.add(value)
    if not earlier:
        return 0
    column = key_item
    problems[(column, DUPLICATE)] += len(earlier)
    messages.setdefault((column, DUPLICATE), (DUPLICATE_ZH, DUPLICATE_EN))
    for number, value in sorted(earlier)[: max(0, sample - len(cells))]:
        cells.append(_cell(number, column, DUPLICATE, value, DUPLICATE_ZH, DUPLICATE_EN))
    return len(earlier)
