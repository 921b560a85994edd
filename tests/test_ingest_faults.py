"""R7 R13 faults: a load killed with SIGKILL half-way changes nothing and is later marked failed; malformed
files each get a precise error, store nothing and leave the previous data intact; a 200 MB single line is
refused on the line cap without being read into memory."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.decoding import CSV_BLOCK, LINE_CAP, Transcoder
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.store.models import Batch

ROOT = Path(__file__).resolve().parent.parent
BEFORE = [f"{IDS[0]},张三,2024-01-02,1,2.5,是", f"{IDS[1]},李四,2024-01-03,0,,否"]
BIG_ROWS = 300_000
KILL_SCRIPT = (
    "import sys; from pathlib import Path; from gongshu.aggregation.ingest import ingest_file; "
    "from gongshu.kernel.identity.actor import SYSTEM; ingest_file(SYSTEM, sys.argv[1], Path(sys.argv[2]))"
)


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any], tmp_path: Path) -> str:
    """A published resource already holding two records (the data a failed load must leave intact)."""
    out = publish(session, c).resource_code
    session.rollback()
    report = ingest_file(
        c["civil_clerk"], out, write(tmp_path, "before.csv", HEADER + "\n" + "\n".join(BEFORE))
    )
    assert report["status"] == "committed" and report["inserted"] == 2
    return out


def _snapshot(code: str) -> list[dict[str, Any]]:
    with read_scope() as s:
        return store.rows(s, code, lineage=True)


def _big_csv(path: Path, rows: int) -> Path:
    start = dt.date(1950, 1, 1)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        for n in range(rows):
            born = start + dt.timedelta(days=n // 900)
            fh.write(
                f"{make_id_number('350203', born, n % 900 + 1)},某{n},2024-01-02,{n % 4},{n % 97}.5,是\n"
            )
    return path


def test_r7_a_load_killed_midway_changes_nothing_and_recovery_fails_it(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    before = _snapshot(code)
    path = _big_csv(tmp_path / "big.csv", BIG_ROWS)
    with read_scope() as s:
        last = int(s.scalar(select(func.max(Batch.id))) or 0)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, code, str(path)], cwd=ROOT, env=os.environ.copy()
    )
    batch_id = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with read_scope() as s:  # in the middle: loading, and at least one chunk staged
                batch = s.scalar(select(Batch).where(Batch.resource_code == code, Batch.id > last))
                if batch is not None and batch.status == "loading" and batch.heartbeat_at is not None:
                    batch_id = batch.id
                    break
            time.sleep(0.02)
        assert batch_id is not None, "the load was not caught in the middle"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with read_scope() as s:
        res = store.get_resource(s, code)
        table = store.table_of(res)
        mine = s.scalar(select(func.count()).select_from(table).where(table.c["_batch_id"] == batch_id))
        assert mine == 0 and s.get(Batch, batch_id).status == "loading"  # type: ignore[union-attr]
    assert _snapshot(code) == before
    with session_scope() as s:
        assert batch_id in batches.recover_stale_batches(s, dt.timedelta(0))
    with read_scope() as s:
        failed = batches.get(s, batch_id)
        assert failed.status == "failed" and failed.error["code"] == "store.batch_interrupted"  # type: ignore[index]
    assert _snapshot(code) == before


MALFORMED = [
    (HEADER + f'\n{IDS[2]},"王五,,,,\n{IDS[3]},赵六,,,,\n', "utf-8", "ingest.csv_quoting", {"row": 2}),
    (
        HEADER + f"\n{IDS[2]},王五,,,,\n{IDS[3]},赵六,,\n",
        "utf-8",
        "ingest.column_count",
        {"row": 3, "actual": 4},
    ),
    (HEADER + f"\n{IDS[2]},王五,,,,\n", "gb18030", "ingest.invalid_encoding", {"encoding": "utf-8"}),
    ("", "utf-8", "ingest.empty_file", {}),
]


@pytest.mark.parametrize(
    ("text", "encoding", "error", "details"), MALFORMED, ids=["quoting", "columns", "encoding", "empty"]
)
def test_r7_malformed_files_get_a_precise_error_and_store_nothing(
    db_clean: str,
    c: dict[str, Any],
    code: str,
    tmp_path: Path,
    text: str,
    encoding: str,
    error: str,
    details: dict[str, Any],
) -> None:
    before = _snapshot(code)
    path = write(tmp_path, "bad.csv", text, encoding)
    with pytest.raises(ValidationFailed) as exc:
        ingest_file(
            c["civil_clerk"], code, path, encoding="utf-8" if error == "ingest.invalid_encoding" else None
        )
    assert exc.value.code == error and details.items() <= exc.value.details.items()
    assert exc.value.message_zh and exc.value.message_en and exc.value.message_zh != exc.value.message_en
    assert _snapshot(code) == before
    with read_scope() as s:
        assert all(b.status in ("committed", "failed") for b in batches.of_resource(s, code))
        assert sum(b.status == "committed" for b in batches.of_resource(s, code)) == 1


HUGE_SCRIPT = """
import json, os, resource, sys, time
from pathlib import Path
from gongshu.aggregation.decoding import CSV_BLOCK, LINE_CAP
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM
code, small, huge = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
try:  # warm up every code path on a small failing file, so that the baseline includes the imports
    ingest_file(SYSTEM, code, small)
except ValidationFailed:
    pass
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.monotonic()
try:
    ingest_file(SYSTEM, code, huge)
    out = {"error": None}
except ValidationFailed as exc:
    out = {"error": exc.code, "details": exc.details}
out["seconds"] = time.monotonic() - t0
out["growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps(out), flush=True)
os._exit(0)  # pyarrow's read-ahead thread may still hold the refused file at exit
"""


def test_r7_a_200_mb_line_fails_fast_on_the_line_cap_without_reading_it_all(
    db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    before = _snapshot(code)
    huge = tmp_path / "huge.csv"
    block = b"x" * (1 << 20)
    with huge.open("wb") as fh:  # a streaming write: the 200 MB line never exists in memory
        fh.write(HEADER.encode() + b"\n" + IDS[2].encode() + b",")
        for _ in range(200):
            fh.write(block)
        fh.write(b",,,,\n")
    small = write(tmp_path, "small.csv", HEADER + f'\n{IDS[2]},"王五,,,,\n')
    done = subprocess.run(
        [sys.executable, "-c", HUGE_SCRIPT, code, str(small), str(huge)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["error"] == "ingest.line_too_long" and out["details"]["limit"] in (CSV_BLOCK, LINE_CAP)
    assert out["seconds"] < 5
    assert out["growth_kb"] < 100 * 1024, out  # well under the 200 MB of the line
    assert _snapshot(code) == before


def test_r7_an_overlong_line_read_without_any_newline_is_refused_precisely() -> None:
    """The line cap holds when a whole read holds no newline at all (a read of one part only)."""
    reader = Transcoder(io.BytesIO(b"a,b\n" + b"x" * (LINE_CAP + 10)), "utf-8")
    with pytest.raises(GongshuError) as err:
        while reader.read(1 << 20):
            pass
    assert err.value.code == "ingest.line_too_long" and err.value.details["limit"] == LINE_CAP
