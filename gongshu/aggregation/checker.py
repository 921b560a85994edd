"""R13 before the load: a source's chunks transformed and checked column-wise, ready for the store —
refused cells for quarantine, the accepted rows' canonical values, source row numbers and row hashes.

For a large file (`Settings.ingest_worker_min_bytes`), the reading and checking run in a worker process
while the loading process writes the chunks already checked: the two halves of a load use two cores
(the checks are CPU work under Python's GIL, so a thread would not overlap them). The worker reopens the
file by its path; chunks cross in order through a pipe, at most `AHEAD` of them waiting, so memory stays
bounded. The worker only reads and computes: it never touches the platform's database."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gongshu.aggregation.readers import Source, open_source
from gongshu.kernel import timeutil
from gongshu.kernel.errors import GongshuError
from gongshu.quality.checks import check_column
from gongshu.quality.quarantine import judge
from gongshu.quality.rulespec import RuleSpec

last_worker: dict[str, float] = {}  # what the last worker reported at its end (its peak memory)
AHEAD = 2  # checked chunks the worker may send before the loader takes them (each ~50k rows)


@dataclass
class Checked:
    """One chunk after the transforms and checks."""

    received: int
    refused: int
    quarantine: list[tuple[Any, ...]]
    columns: list[pa.Array]
    numbers: npt.NDArray[np.int64]
    hashes: list[str] | None  # None: left to the loader (`Reopen.hashes`)


def row_hash(row: tuple[Any, ...]) -> str:
    """The hash of a record's values as received (after the transforms): an update is a changed hash."""
    text = "\x1f".join("\x00" if v is None else v for v in row)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def row_hashes(columns: list[pa.Array]) -> list[str]:
    """`row_hash` of every row of a chunk: the values are joined column-wise in Arrow (the same text,
    None as NUL), so only the hashing itself runs per row."""
    texts = [c if c.type == pa.string() else c.cast(pa.string()) for c in columns]
    joined = pc.binary_join_element_wise(*texts, "\x1f", null_handling="replace", null_replacement="\x00")
    raw = joined.cast(pa.binary())
    blake = hashlib.blake2b
    return [blake(v, digest_size=16).hexdigest() for v in raw.to_pylist()]


def checked(
    items: list[dict[str, Any]],
    key_item: str,
    src: Source,
    mapping: dict[str, str],
    rules: list[RuleSpec],
    *,
    hashes: bool = True,
) -> Iterator[Checked]:
    """R13: per chunk, transform and check every column (its type, the key's presence, its declared
    rules); cells refused go to the quarantine list with their source row, rule and message. With
    `hashes`, the accepted rows' hashes too (else the consumer computes them: `row_hashes`)."""
    names = [str(i["name"]) for i in items]
    header_of = {name: header for header, name in mapping.items()}
    rules_of = {n: [r for r in rules if r.kind != "complete" and r.item == n] for n in names}
    for chunk, numbers in src.chunks:
        results = {
            name: check_column(item, chunk.column(header_of[name]), rules_of[name], required=name == key_item)
            for item, name in zip(items, names, strict=True)
        }
        verdict = judge(chunk, header_of, items, results, rules, numbers)
        good = pa.array(verdict.good)
        columns = [results[n].values.filter(good) for n in names]
        yield Checked(
            chunk.num_rows,
            verdict.refused,
            verdict.quarantine,
            columns,
            numbers[verdict.good],
            row_hashes(columns) if hashes else None,
        )


@dataclass(frozen=True)
class Reopen:
    """How the worker opens the same file again (the loader opened it first, to check its columns)."""

    path: str
    encoding: str
    format: str
    batch_rows: int
    skip_chunks: int = 0  # the first chunks, which the loader checks itself
    hashes: bool = True  # False: the loader hashes the rows (it has the spare time: see `_stage`)


def _error_state(exc: BaseException) -> tuple[str, Any]:
    """An error as it crosses the pipe: a refusal keeps its class, code and messages."""
    if isinstance(exc, GongshuError):
        return "refused", (type(exc), dict(exc.__dict__))
    return "failed", f"{type(exc).__name__}: {exc}"


def _raise(kind: str, payload: Any) -> None:
    if kind == "refused":
        cls, state = payload
        err = cls.__new__(cls)
        Exception.__init__(err, f"{state.get('code')}: {state.get('message_en')}")
        err.__dict__.update(state)
        raise err
    raise RuntimeError(f"the checking process failed: {payload}")


def _frame(out: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=5)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)
    out.flush()


def _read_frame(inp: IO[bytes]) -> Any:
    head = inp.read(8)
    if len(head) < 8:
        raise EOFError
    size = int.from_bytes(head, "little")
    data = inp.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _peak_mb() -> float:
    """This process's peak memory since it started (VmHWM: unlike `ru_maxrss`, not inherited from the
    process it was forked from before its exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _work(inp: BinaryIO, out: BinaryIO) -> None:
    """The worker: read the job, then read, check and send each chunk (one go-ahead byte from the loader
    per chunk taken keeps it at most `AHEAD` chunks ahead)."""
    try:
        where, items, key_item, mapping, rules, frozen = pickle.load(inp)
        timeutil.freeze(frozen)
        credit = AHEAD
        src = open_source(
            Path(where.path), encoding=where.encoding, fmt=where.format, batch_rows=where.batch_rows
        )
        # The loader checks the first chunks itself while this process starts: read past them.
        src.chunks = itertools.islice(src.chunks, where.skip_chunks, None)
        for part in checked(items, key_item, src, mapping, rules, hashes=where.hashes):
            while credit <= 0:
                if not inp.read(1):
                    return  # the loader is gone
                credit += 1
            _frame(out, ("chunk", part))
            credit -= 1
        _frame(out, ("end", {"peak_mb": _peak_mb()}))
    except BrokenPipeError:
        return
    except BaseException as exc:
        _frame(out, _error_state(exc))


def start_worker() -> subprocess.Popen[bytes]:
    """Start a checking process now (its imports then overlap the loader's own preparation); it waits
    for its job on its standard input. `in_worker` hands it the job; `stop_worker` ends it."""
    return subprocess.Popen(
        [sys.executable, "-m", "gongshu.aggregation.checker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """End a checking process, whether or not it got its job or finished it (idempotent)."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if proc.poll() is None:
        proc.terminate()
    proc.wait(5)


def in_worker(
    where: Reopen,
    items: list[dict[str, Any]],
    key_item: str,
    mapping: dict[str, str],
    rules: list[RuleSpec],
    proc: subprocess.Popen[bytes] | None = None,
) -> Iterator[Checked]:
    """`checked` run in a worker process (`python -m gongshu.aggregation.checker`; `proc` if started
    already); the chunks come back in order. A consumer that stops early (or fails) ends the worker."""
    proc = proc or start_worker()
    assert proc.stdin is not None and proc.stdout is not None
    try:
        pickle.dump((where, items, key_item, mapping, rules, timeutil._frozen), proc.stdin)
        proc.stdin.flush()
        while True:
            try:
                kind, payload = _read_frame(proc.stdout)
            except EOFError:
                raise RuntimeError("the checking process ended without finishing the file") from None
            if kind == "end":
                last_worker.update(payload or {})
                return
            if kind != "chunk":
                _raise(kind, payload)
            proc.stdin.write(b".")
            proc.stdin.flush()
            yield payload
    finally:
        stop_worker(proc)


if __name__ == "__main__":
    from gongshu.aggregation import checker  # the module by its name: what crosses the pipe names it

    _stdout, sys.stdout = sys.stdout.buffer, sys.stderr  # nothing else may write into the chunk stream
    checker._work(sys.stdin.buffer, _stdout)
