"""R13: refused rows go to quarantine with their source row number, column, rule and message — problem
data stays traceable and nothing is silently dropped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gongshu.quality.checks import ColumnResult, message
from gongshu.quality.rulespec import RuleSpec


@dataclass
class ChunkVerdict:
    """The outcome of the checks of one chunk: which rows pass, and the quarantine rows of the others."""

    good: npt.NDArray[np.bool_]
    quarantine: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return int((~self.good).sum())


def judge(
    raw: pa.RecordBatch,
    header_of: dict[str, str],
    items: list[dict[str, Any]],
    results: dict[str, ColumnResult],
    rules: list[RuleSpec],
    source_rows: npt.NDArray[np.int64],
) -> ChunkVerdict:
    """R13: combine the columns' verdicts; each failing cell becomes one quarantine row (the row, as
    received, kept with it)."""
    n = raw.num_rows
    bad = np.zeros(n, dtype=bool)
    for res in results.values():
        bad |= res.errors != None  # noqa: E711
    verdict = ChunkVerdict(good=~bad)
    idx = np.flatnonzero(bad)
    if not len(idx):
        return verdict
    rows = raw.take(pa.array(idx)).to_pylist()
    by_name = {str(i["name"]): i for i in items}
    params = {(r.item, r.kind): r.params for r in rules}
    for pos, i in enumerate(idx):
        row_json = json.dumps(rows[pos], ensure_ascii=False)
        for name, res in results.items():
            code = res.errors[i]
            if code is None:
                continue
            zh, en = message(str(code), by_name[name], params.get((name, str(code))))
            value = rows[pos].get(header_of[name])
            verdict.quarantine.append((int(source_rows[i]), name, str(code), value, zh, en, row_json))
    return verdict
