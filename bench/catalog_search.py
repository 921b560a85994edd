"""Catalog search benchmark (R6): p50/p95 latency of `gongshu.catalog.search.search` over a generated city
catalog, as an anonymous visitor and as a department, on SQLite and PostgreSQL, against a naive
`name LIKE '%q%'` scan of the same table.

    .venv/bin/python -m bench.catalog_search [--entries 50000] [--backend sqlite|postgresql|both]

The SQLite database is a temporary file; the PostgreSQL one is gongshu_bench_<random> on 127.0.0.1:5432,
created and dropped by the run. Goal: p95 < 20 ms on SQLite."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.databases import database
from bench.generate_catalog import load
from gongshu.catalog import search
from gongshu.kernel import config, db
from gongshu.kernel.identity.actor import ANONYMOUS, Actor

GOAL_MS = 20.0
# (kind, query): one-character, Chinese words and phrases, English words, and browsing without a query.
QUERIES: list[tuple[str, str]] = [
    ("zh-1char", "婚"),
    ("zh-1char", "税"),
    ("zh-1char", "港"),
    ("zh", "婚姻登记"),
    ("zh", "企业登记信息"),
    ("zh", "不动产"),
    ("zh", "公交线路站点"),
    ("zh", "社会保险"),
    ("zh", "医疗机构"),
    ("zh", "食品经营许可"),
    ("zh", "思明区 学校"),
    ("zh", "行政处罚"),
    ("zh", "空气质量"),
    ("en", "marriage"),
    ("en", "enterprise registration"),
    ("en", "bus route"),
    ("en", "real estate"),
    ("en", "air"),
    ("en", "permits"),
    ("browse", ""),
]
FILTERS: dict[str, list[str]] = {"sharing_attribute": ["conditional"], "grade": ["general"]}
# Browsing keeps its total and facet counts in a cache keyed by the index generation: the "browse" samples
# are what every visitor gets until the next publication or withdrawal; "browse-cold" clears the cache
# before each timed run, as for the first search after such a change. It is reported on its own line and
# kept out of the goal check, which covers the 20 queries above.
COLD = "browse-cold"


@dataclass
class Row:
    backend: str
    actor: str
    kind: str
    filtered: bool
    samples: list[float]
    naive: list[float]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def _prepare(url: str, data_dir: str) -> None:
    from gongshu.kernel.bootstrap import initialise

    os.environ["GONGSHU_DATABASE_URL"] = url
    os.environ["GONGSHU_DATA_DIR"] = data_dir
    os.environ["GONGSHU_BACKGROUND"] = "external"
    config.reset_settings()
    initialise(url)


def measure(url: str, backend: str, entries: int, repeat: int) -> list[Row]:
    maker = db.session_factory(url)
    with maker() as s:
        loaded = load(s, entries)
    print(f"{backend}: loaded {loaded.entries} entries in {loaded.seconds:.1f} s")
    department = Actor(user_id=None, username="bench", org_id=loaded.department_ids[0], org_kind="department")
    reader = db.session_factory(url, readonly=True)
    rows: list[Row] = []
    for actor_name, actor in (("anonymous", ANONYMOUS), ("department", department)):
        for filtered in (False, True):
            by_kind: dict[str, Row] = {}
            for kind, q in [*QUERIES, (COLD, "")]:
                row = by_kind.setdefault(kind, Row(backend, actor_name, kind, filtered, [], []))
                filters = FILTERS if filtered else {}
                with reader() as s:
                    search.search(s, actor, q, filters)  # warm-up
                    for _ in range(repeat):
                        if kind == COLD:
                            search.clear_cache()
                        row.samples.append(
                            _timed(lambda s=s, a=actor, q=q, f=filters: search.search(s, a, q, f))
                        )
                        row.naive.append(_timed(lambda s=s, q=q: _naive(s, q)))
                    s.rollback()
            rows += by_kind.values()
    return rows


def _naive(session: Session, q: str) -> None:
    """The baseline: a plain LIKE scan of the same table (no index can serve '%q%')."""
    session.execute(
        text("SELECT id, name FROM catalog_entry WHERE status = 'published' AND name LIKE :p"),
        {"p": f"%{q}%"},
    ).all()


def report(rows: list[Row]) -> bool:
    head = f"{'backend':<11}{'actor':<11}{'query kind':<12}{'filters':<8}{'n':>4}"
    head += f"{'p50 ms':>9}{'p95 ms':>9}{'naive p50':>11}{'naive p95':>11}{'p50 ratio':>11}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        p50, p95, n50, n95 = pct(r.samples, 50), pct(r.samples, 95), pct(r.naive, 50), pct(r.naive, 95)
        print(
            f"{r.backend:<11}{r.actor:<11}{r.kind:<12}{'yes' if r.filtered else 'no':<8}{len(r.samples):>4}"
            f"{p50:>9.2f}{p95:>9.2f}{n50:>11.2f}{n95:>11.2f}{p50 / n50 if n50 else 0:>10.1f}x"
        )
    ok = True
    for backend in sorted({r.backend for r in rows}):
        every = [v for r in rows if r.backend == backend and r.kind != COLD for v in r.samples]
        naive = [v for r in rows if r.backend == backend and r.kind != COLD for v in r.naive]
        line = (
            f"{backend}: all {len(QUERIES)} queries p50 {statistics.median(every):.2f} ms, p95 {pct(every, 95):.2f} ms "
            f"(naive LIKE scan p50 {statistics.median(naive):.2f} ms, p95 {pct(naive, 95):.2f} ms)"
        )
        if backend == "sqlite":
            passed = pct(every, 95) < GOAL_MS
            ok = ok and passed
            line += f" — goal p95 < {GOAL_MS:.0f} ms on SQLite: {'PASS' if passed else 'FAIL'}"
        print(line)
        queried = [
            v for r in rows if r.backend == backend and r.kind not in ("browse", COLD) for v in r.samples
        ]
        browsed = [v for r in rows if r.backend == backend and r.kind == "browse" for v in r.samples]
        print(
            f"{backend}: with a query p50 {statistics.median(queried):.2f} ms, p95 {pct(queried, 95):.2f} ms; "
            f"browsing (no query, facets over every visible entry) p50 {statistics.median(browsed):.2f} ms, "
            f"p95 {pct(browsed, 95):.2f} ms"
        )
        cold = [v for r in rows if r.backend == backend and r.kind == COLD for v in r.samples]
        if cold:
            print(
                f"{backend}: browsing right after a publication or withdrawal (facet cache cold, not in the "
                f"goal check) p50 {statistics.median(cold):.2f} ms, p95 {pct(cold, 95):.2f} ms"
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.catalog_search", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each query (default 10)")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gongshu-bench-data-") as data_dir:
        for backend in backends:
            with database(backend) as url:
                _prepare(url, data_dir)
                rows += measure(url, backend, args.entries, args.repeat)
                db.dispose_all()
    return 0 if report(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
