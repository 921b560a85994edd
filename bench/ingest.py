"""Ingest benchmark (R7 R13): rows/s of the real, validated `ingest_file` on a generated CSV keyed by
resident ID number (with a USCC column and typed columns), against a raw bulk load of the same rows into a
bare table (SQLite: executemany in one transaction; PostgreSQL: COPY) and against `frictionless validate`
on the same file (inferring the types, and again with the same rules as a Table Schema); what the same
rows cost with no check at all (the floor: canonical rows into a resource's typed, keyed table; on
PostgreSQL also the binary floor: the rows typed and encoded for binary COPY before the clock); the check
of the same file without storing it (`gongshu ingest --check`, what `frictionless validate` does); and the
peak memory (RSS high-water mark) of the ingest, measured in a child process,
at 250k rows and at --rows rows.

    .venv/bin/python -m bench.ingest [--rows 1000000] [--backend sqlite|postgresql|both] [--no-frictionless]

Goals: ≥ 0.5× the raw bulk load, ≥ 10× faster than frictionless, peak memory flat (< 500 MB at 1M rows).
The SQLite database is a temporary file; the PostgreSQL one is gongshu_bench_<random> (dropped at the end).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bench.databases import database
from gongshu.kernel import config, db
from gongshu.kernel.identifiers.checks import make_id_number, make_uscc

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("350203", "350205", "350206", "350211", "350212", "350213")
HEADER = ["id_number", "full_name", "employer_uscc", "registered_on", "children", "allowance", "active"]
ITEMS: list[dict[str, Any]] = [
    {"name": "id_number", "label_zh": "身份证号码", "data_type": "id_number", "length": 18, "is_key": True},
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20},
    {"name": "employer_uscc", "label_zh": "单位统一社会信用代码", "data_type": "uscc", "length": 18},
    {"name": "registered_on", "label_zh": "登记日期", "data_type": "date"},
    {"name": "children", "label_zh": "子女数", "data_type": "integer"},
    {"name": "allowance", "label_zh": "补助金额", "data_type": "decimal"},
    {"name": "active", "label_zh": "是否有效", "data_type": "boolean"},
]
MEMORY_ROWS = 250_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def generate(path: Path, rows: int) -> Path:
    """A CSV of `rows` valid records: unique ID numbers of the city's districts, valid USCCs. Beside it,
    `canonical(path)`: the same rows as the checks and transforms make them (是/否 → 1/0), for the floor."""
    start = dt.date(1950, 1, 1)
    usccs = [make_uscc(f"913502{n:011d}") for n in range(1, 5001)]
    with (
        path.open("w", encoding="utf-8", newline="") as fh,
        canonical(path).open("w", encoding="utf-8", newline="") as clean_fh,
    ):
        out, clean = csv.writer(fh), csv.writer(clean_fh)
        out.writerow(HEADER)
        clean.writerow(HEADER)
        for n in range(rows):
            region, rest = REGIONS[n % 6], n // 6
            born = start + dt.timedelta(days=rest // 999)
            name = SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)] + GIVEN[(n // 7) % len(GIVEN)]
            day = dt.date(2020, 1, 1) + dt.timedelta(days=n % 1500)
            row = [
                make_id_number(region, born, rest % 999 + 1),
                name,
                usccs[n % 5000],
                day.isoformat(),
                n % 4,
                f"{n % 997}.{n % 100:02d}",
            ]
            out.writerow([*row, "是" if n % 3 else "否"])
            clean.writerow([*row, "1" if n % 3 else "0"])
    return path


def canonical(path: Path) -> Path:
    return path.with_name(path.stem + "_canonical.csv")


def schema_for_frictionless(folder: Path) -> Path:
    """The resource's rules as a Table Schema, as far as frictionless can express them: the types, the
    key required and unique (primary key), the ID number's and the USCC's shapes (patterns; frictionless
    cannot check their check characters), the lengths, 是/否 as the booleans."""
    schema = {
        "fields": [
            {
                "name": "id_number",
                "type": "string",
                "constraints": {
                    "required": True,
                    "maxLength": 18,
                    "pattern": r"[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]",
                },
            },
            {"name": "full_name", "type": "string", "constraints": {"maxLength": 20}},
            {
                "name": "employer_uscc",
                "type": "string",
                "constraints": {
                    "maxLength": 18,
                    "pattern": r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}",
                },
            },
            {"name": "registered_on", "type": "date"},
            {"name": "children", "type": "integer"},
            {"name": "allowance", "type": "number"},
            {"name": "active", "type": "boolean", "trueValues": ["是"], "falseValues": ["否"]},
        ],
        "primaryKey": ["id_number"],
    }
    out = folder / "schema.json"
    out.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    return out


def prepare(url: str, data_dir: str, resources: int) -> list[str]:
    """Migrate, then publish `resources` catalog entries (through the catalog service and its review)."""
    from gongshu.catalog import service as catalog
    from gongshu.catalog.schemas import EntryInput
    from gongshu.kernel.bootstrap import initialise
    from gongshu.kernel.identity.models import Organisation, RoleAssignment, User
    from gongshu.kernel.identity.service import build_actor
    from gongshu.kernel.workflow import engine

    os.environ.update(GONGSHU_DATABASE_URL=url, GONGSHU_DATA_DIR=data_dir, GONGSHU_BACKGROUND="external")
    config.reset_settings()
    initialise(url)
    codes: list[str] = []
    with db.session_scope(url) as s:
        authority = Organisation(code="bigdata", name_zh="市大数据管理局", kind="authority")
        dept = Organisation(code="civil_affairs", name_zh="市民政局", kind="department")
        s.add_all([authority, dept])
        s.flush()
        actors = {}
        for username, org, role in (
            ("officer", dept, "catalog_officer"),
            ("reviewer", authority, "reviewer"),
        ):
            u = User(username=username, display_name=username, organisation_id=org.id, password_hash="x")
            s.add(u)
            s.flush()
            s.add(RoleAssignment(user_id=u.id, organisation_id=org.id, role=role))
            s.flush()
            actors[username] = build_actor(s, u)
        for n in range(resources):
            entry = catalog.create_draft(
                s,
                actors["officer"],
                EntryInput.model_validate(
                    {
                        "catalog_kind": "government",
                        "category_code": "A01-02-03-04",
                        "name": f"补助发放信息{n + 1}",
                        "name_en": f"Allowances {n + 1}",
                        "summary": "基准测试用的补助发放记录。",
                        "format": "csv",
                        "topic": "民政",
                        "keywords": ["补助"],
                        "items": ITEMS,
                        "sharing_attribute": "unconditional",
                        "sharing_methods": ["api"],
                        "open_attribute": "not_open",
                        "not_open_reason": "含有身份证号码等个人信息。",
                        "update_cycle": "daily",
                        "grade": "general",
                        "subject_kind": "person",
                    }
                ),
            )
            case = catalog.submit_for_review(s, actors["officer"], entry.id)
            engine.decide(s, actors["reviewer"], case.id, "approve")
            codes.append(entry.resource_code)
    return codes


def child_ingest(code: str, path: str) -> None:
    """In a child process: the real ingest, timed, with the process's RSS high-water mark. The platform's
    modules are loaded before the clock starts, as in the web process that receives an upload or a push
    (the catalog package, for one, is loaded on first use by the store)."""
    import gongshu.catalog  # noqa: F401
    from gongshu.aggregation.ingest import ingest_file
    from gongshu.kernel.identity.actor import SYSTEM

    t0 = time.perf_counter()
    report = ingest_file(SYSTEM, code, Path(path))
    seconds = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: the latter keeps the RSS of the (large) bench process this one was forked from.
    from gongshu.aggregation.checker import _peak_mb

    peak = _peak_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The checking worker process of a large file reports its own peak (gongshu.aggregation.checker).
    from gongshu.aggregation.checker import last_worker

    worker = last_worker.get("peak_mb", 0.0)
    print(
        json.dumps(
            {"seconds": seconds, "peak_mb": peak, "worker_mb": worker, "status": report["status"], **report},
            default=str,
        )
    )


def child_check(code: str, path: str) -> None:
    """In a child process: the check of the file without storing it (`gongshu ingest --check`, R13 预检),
    timed — what `frictionless validate` does (validate, store nothing), on the platform's rules."""
    import gongshu.catalog  # noqa: F401
    from gongshu.aggregation.checker import _peak_mb
    from gongshu.aggregation.precheck import check_file
    from gongshu.kernel.identity.actor import SYSTEM

    t0 = time.perf_counter()
    report = check_file(SYSTEM, code, Path(path))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb(), **report}, default=str))


def run_ingest(code: str, path: Path, *, check: bool = False) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--child-check" if check else "--child", code, str(path)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def raw_load(url: str, path: Path) -> float:
    """The same rows into a bare table: SQLite executemany in one transaction; PostgreSQL COPY."""
    engine = create_engine(url)
    cols = ", ".join(f"{c} TEXT" for c in HEADER)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE bare_load ({cols})")
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":
            with (
                path.open("rb") as fh,
                cur.copy("COPY bare_load FROM STDIN WITH (FORMAT csv, HEADER)") as copy,
            ):
                while block := fh.read(1 << 20):
                    copy.write(block)
        else:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                marks = ", ".join("?" for _ in HEADER)
                cur.executemany(f"INSERT INTO bare_load VALUES ({marks})", reader)
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bare_load")
    engine.dispose()
    return seconds


def floor_load(url: str, path: Path) -> float:
    """What storing the rows costs with no check at all: the canonical rows (`canonical`) into a table
    built as the platform builds a resource's (`gongshu.store.tables.data_table`: typed columns, the key's
    index, the lineage, here constants) on the platform's own connection settings, in one transaction —
    on PostgreSQL by COPY with the key's index built after, on SQLite by executemany. No validated load
    can be faster than this: its ratio to the raw bulk load bounds ours."""
    from gongshu.store import tables

    engine = db.get_engine(url)
    table = tables.data_table("floor_load", ITEMS, "id_number")
    cols = ", ".join(HEADER)
    stamp = "2026-01-01 00:00:00"
    lineage = {
        "_batch_id": "1",
        "_source": "'upload'",
        "_ingested_at": f"'{stamp}'",
        "_updated_at": f"'{stamp}'",
    }
    lineage["_row_hash"] = "''"
    with engine.begin() as conn:
        tables.create(conn, table)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE floor_load DROP CONSTRAINT floor_load_pkey")
            sets = ", ".join(f"ALTER COLUMN {c} SET DEFAULT {v}" for c, v in lineage.items())
            conn.exec_driver_sql(f"ALTER TABLE floor_load {sets}")
            with (
                canonical(path).open("rb") as fh,
                cur.copy(f"COPY floor_load ({cols}) FROM STDIN WITH (FORMAT csv, HEADER)") as copy,
            ):
                while block := fh.read(1 << 20):
                    copy.write(block)
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            conn.exec_driver_sql("ALTER TABLE floor_load ADD PRIMARY KEY (id_number)")
        else:
            conn.exec_driver_sql("PRAGMA cache_size=-65536")
            with canonical(path).open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                marks = ", ".join("?" for _ in HEADER)
                names = ", ".join(lineage)
                consts = ", ".join(lineage.values())
                cur.executemany(
                    f"INSERT INTO floor_load ({cols}, {names}) VALUES ({marks}, {consts})", reader
                )
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE floor_load")
    return seconds


def binary_floor(url: str, path: Path) -> tuple[float, float]:
    """PostgreSQL only: the most generous floor — the clean rows already typed in Arrow and encoded as
    PostgreSQL's binary COPY format (pgpq) before the clock starts, so the server parses no text at all,
    into the resource's typed table, then the key's index; nothing checked, nothing encoded on the clock.
    Returns (the COPY, the index) in seconds. What a loader would still have to do — read, check, encode —
    comes on top of it."""
    import pgpq
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from gongshu.store import tables

    types = {
        "id_number": pa.string(),
        "full_name": pa.string(),
        "employer_uscc": pa.string(),
        "registered_on": pa.date32(),
        "children": pa.int64(),
        "allowance": pa.decimal128(12, 2),
        "active": pa.bool_(),
    }
    rows = pacsv.read_csv(canonical(path), convert_options=pacsv.ConvertOptions(column_types=types))
    encoder = pgpq.ArrowToPostgresBinaryEncoder(rows.schema)
    blocks = [encoder.write_header(), *(encoder.write_batch(b) for b in rows.to_batches(65536))]
    blocks.append(encoder.finish())
    del rows
    engine = db.get_engine(url)
    table = tables.data_table("floor_binary", ITEMS, "id_number")
    lineage = {
        "_batch_id": "1",
        "_source": "'upload'",
        "_ingested_at": "now()",
        "_updated_at": "now()",
        "_row_hash": "''",
    }
    with engine.begin() as conn:
        tables.create(conn, table)
        conn.exec_driver_sql("ALTER TABLE floor_binary DROP CONSTRAINT floor_binary_pkey")
        sets = ", ".join(f"ALTER COLUMN {c} SET DEFAULT {v}" for c, v in lineage.items())
        conn.exec_driver_sql(f"ALTER TABLE floor_binary {sets}")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY floor_binary ({', '.join(HEADER)}) FROM STDIN WITH (FORMAT binary)") as copy:
            for block in blocks:
                copy.write(block)
        t1 = time.perf_counter()
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        conn.exec_driver_sql("ALTER TABLE floor_binary ADD PRIMARY KEY (id_number)")
    t2 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE floor_binary")
    return t1 - t0, t2 - t1


def frictionless(path: Path, schema: Path | None = None) -> tuple[float, int | None, bool | None]:
    """`frictionless validate --json` on the same file, as a subprocess (with `schema`: against those
    rules; without, against the types it infers): its time, and the rows it says it validated and its
    verdict (so that a partial validation cannot pass for a full one)."""
    exe = Path(sys.executable).parent / "frictionless"
    t0 = time.perf_counter()
    rules = ["--schema", schema.name] if schema else []
    done = subprocess.run(  # relative: frictionless refuses absolute paths as "not safe"
        [str(exe), "validate", "--json", *rules, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    try:
        task = json.loads(done.stdout)["tasks"][0]
        return seconds, int(task["stats"]["rows"]), bool(task["valid"])
    except (ValueError, KeyError, IndexError):
        return seconds, None, None


def measure(
    backend: str, rows: int, files: dict[int, Path], fl: float | None, fl_rules: float | None
) -> dict[str, Any]:
    with database(backend) as url, tempfile.TemporaryDirectory(prefix="gongshu-bench-data-") as data_dir:
        small, big = prepare(url, data_dir, 2)
        mem = run_ingest(small, files[min(MEMORY_ROWS, rows)])
        full = run_ingest(big, files[rows])
        raw = raw_load(url, files[rows])
        floor = floor_load(url, files[rows])
        binary = binary_floor(url, files[rows]) if backend == "postgresql" else None
        check = run_ingest(small, files[rows], check=True)
        db.dispose_all()
    return {
        "backend": backend,
        "rows": rows,
        "ingest_s": full["seconds"],
        "rows_per_s": rows / full["seconds"],
        "accepted": full["accepted"],
        "raw_s": raw,
        "ratio_vs_raw": raw / full["seconds"],
        "frictionless_s": fl,
        "x_faster_than_frictionless": (fl / full["seconds"]) if fl else None,
        "raw_x_faster_than_frictionless": (fl / raw) if fl else None,
        "floor_s": floor,
        "floor_ratio_vs_raw": raw / floor,
        "floor_x_faster_than_frictionless": (fl / floor) if fl else None,
        "binary_floor_copy_s": binary[0] if binary else None,
        "binary_floor_index_s": binary[1] if binary else None,
        "binary_floor_ratio_vs_raw": raw / sum(binary) if binary else None,
        "frictionless_rules_s": fl_rules,
        "x_faster_than_frictionless_rules": (fl_rules / full["seconds"]) if fl_rules else None,
        "check_s": check["seconds"],
        "check_received": check["received"],
        "check_x_faster_than_frictionless": (fl / check["seconds"]) if fl else None,
        "check_x_faster_than_frictionless_rules": (fl_rules / check["seconds"]) if fl_rules else None,
        "check_peak_mb": check["peak_mb"],
        "peak_mb_small": mem["peak_mb"],
        "peak_mb_full": full["peak_mb"],
        "worker_mb_full": full["worker_mb"],
        "small_rows": min(MEMORY_ROWS, rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-frictionless", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("CODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--child-check", nargs=2, metavar=("CODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_ingest(*args.child)
        return
    if args.child_check:
        child_check(*args.child_check)
        return
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="gongshu-bench-csv-") as tmp:
        t0 = time.perf_counter()
        files = {
            n: generate(Path(tmp) / f"rows_{n}.csv", n)
            for n in sorted({min(MEMORY_ROWS, args.rows), args.rows})
        }
        print(f"generated {args.rows} rows in {time.perf_counter() - t0:.1f} s", flush=True)
        fl = fl_rules = None
        if not args.no_frictionless:
            fl, fl_rows, fl_valid = frictionless(files[args.rows])
            print(
                f"frictionless validate: {fl:.1f} s, {fl_rows} rows validated, valid={fl_valid}", flush=True
            )
            fl_rules, fl_rows, fl_valid = frictionless(files[args.rows], schema_for_frictionless(Path(tmp)))
            print(
                f"frictionless validate --schema (the same rules, as far as a Table Schema goes): "
                f"{fl_rules:.1f} s, {fl_rows} rows validated, valid={fl_valid}",
                flush=True,
            )
        failed = False
        for backend in backends:
            r = measure(backend, args.rows, files, fl, fl_rules)
            print(json.dumps(r, ensure_ascii=False))
            print(
                f"{backend}: {r['rows']} rows in {r['ingest_s']:.1f} s = {r['rows_per_s']:,.0f} rows/s; "
                f"raw bulk load {r['raw_s']:.1f} s → ratio {r['ratio_vs_raw']:.2f}× (goal ≥ 0.5×); "
                + (
                    f"frictionless {fl:.1f} s → {r['x_faster_than_frictionless']:.1f}× faster (goal ≥ 10×; "
                    f"the raw bulk load itself is {r['raw_x_faster_than_frictionless']:.1f}× faster); "
                    if fl
                    else ""
                )
                + f"peak RSS {r['peak_mb_small']:.0f} MB at {r['small_rows']} rows, "
                f"{r['peak_mb_full']:.0f} MB at {r['rows']} rows (goal < 500 MB); "
                f"checking worker {r['worker_mb_full']:.0f} MB",
                flush=True,
            )
            print(
                f"{backend} floor — the clean rows, unchecked, into a resource's typed, keyed table: "
                f"{r['floor_s']:.1f} s → {r['floor_ratio_vs_raw']:.2f}× the raw bulk load"
                + (f", {r['floor_x_faster_than_frictionless']:.1f}× faster than frictionless" if fl else "")
                + "; no validated load can beat it"
                + (
                    f". Against frictionless with the same rules ({fl_rules:.1f} s): "
                    f"{r['x_faster_than_frictionless_rules']:.1f}× faster"
                    if fl_rules
                    else ""
                ),
                flush=True,
            )
            if r["binary_floor_copy_s"] is not None:
                print(
                    f"{backend} binary floor — the same rows typed and encoded for binary COPY before the "
                    f"clock, no text parsed by the server: COPY {r['binary_floor_copy_s']:.2f} s + the key's "
                    f"index {r['binary_floor_index_s']:.2f} s → {r['binary_floor_ratio_vs_raw']:.2f}× the "
                    "raw bulk load",
                    flush=True,
                )
            print(
                f"{backend} check only (gongshu ingest --check: the same checks, nothing stored — what "
                f"frictionless validate does): {r['check_received']} rows in {r['check_s']:.2f} s"
                + (
                    f" → {r['check_x_faster_than_frictionless']:.1f}× faster than frictionless inferring "
                    f"types, {r['check_x_faster_than_frictionless_rules']:.1f}× with the same rules"
                    if fl and fl_rules
                    else ""
                )
                + f"; peak RSS {r['check_peak_mb']:.0f} MB",
                flush=True,
            )
            failed |= r["ratio_vs_raw"] < 0.5 or r["peak_mb_full"] + r["worker_mb_full"] >= 500
            failed |= bool(fl) and r["x_faster_than_frictionless"] < 10
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
