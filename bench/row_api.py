"""Row API benchmark (R19 method 1): requests/s, p50 and p99 of GET /api/v1/data/{code}/rows — decided,
queried, audited and sealed on every call — against Datasette serving the same SQLite table, with the same
three queries (equals on the key; a range filter, page of 100; the keyset next page), driven side by side
in the same run by `--concurrency` connections for `--seconds` per query kind and server.

    .venv/bin/python -m bench.row_api [--rows 1000000] [--concurrency 32] [--seconds 20] [--clients 2]
        [--workers 2] [--load-generator auto|wrk|httpx]

The platform runs as `gongshu serve --workers N` (one SO_REUSEPORT socket per process, so the kernel spreads
the connections over the workers). The load comes from `wrk` (one process, one thread, rotating over the
query kind's URLs with a Lua script) when it is on PATH, else from httpx clients in `--clients` processes;
`wrk` takes whole seconds.

The data folder and its SQLite database are made fresh in a temporary folder (kept with --keep). The goal
is ≥ 2× Datasette's requests/s; the exit status is 1 when the run falls short of it."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

SCENARIO = "婚育服务一件事"
GOAL = 2.0
KINDS = ("equals", "range", "next")
DAY0 = dt.date(1960, 1, 1)
# wrk 4.1: rotate over the URLs of WRK_PATHS (one a line); at the end, one JSON line of the summary.
WRK_SCRIPT = """\
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Setup:
    db_path: Path
    url: str
    code: str
    table: str
    token: str
    keys: list[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _key(i: int) -> str:
    from gongshu.kernel.identifiers.checks import make_id_number

    return make_id_number("350203", DAY0 + dt.timedelta(days=i // 1000), i % 1000)


def write_csv(path: Path, rows: int) -> None:
    """`rows` records of a resource about persons, keyed by valid resident ID numbers."""
    districts = ("思明区", "湖里区", "集美区", "海沧区", "同安区", "翔安区")
    with path.open("w", encoding="utf-8") as out:
        out.write("id_number,full_name,registered_on,children,allowance,district\n")
        for i in range(rows):
            day = dt.date(2000, 1, 1) + dt.timedelta(days=(i * 7919) % 9000)
            out.write(f"{_key(i)},居民{i},{day.isoformat()},{i % 4},{i % 997}.50,{districts[i % 6]}\n")


def _entry() -> Any:
    from gongshu.catalog.schemas import EntryInput

    def item(name: str, zh: str, kind: str, **kw: Any) -> dict[str, Any]:
        return {"name": name, "label_zh": zh, "label_en": name, "data_type": kind, **kw}

    return EntryInput.model_validate(
        {
            "catalog_kind": "government",
            "category_code": "A01-02-03-04",
            "name": "婚姻登记信息",
            "name_en": "Marriage registration",
            "summary": "本市办理的结婚、离婚登记记录。",
            "format": "csv",
            "topic": "民政",
            "keywords": ["婚姻", "登记"],
            "items": [
                item("id_number", "身份证号码", "id_number", length=18, is_key=True, sensitivity="personal"),
                item("full_name", "姓名", "string", length=20),
                item("registered_on", "登记日期", "date"),
                item("children", "子女数", "integer"),
                item("allowance", "补助金额", "decimal"),
                item("district", "所在区", "string", length=10),
            ],
            "sharing_attribute": "conditional",
            "sharing_conditions": [{"kind": "scenario", "value": SCENARIO}],
            "sharing_methods": ["api"],
            "open_attribute": "not_open",
            "not_open_reason": "涉及个人隐私",
            "update_cycle": "daily",
            "grade": "important",
            "subject_kind": "person",
        }
    )


def build(folder: Path, rows: int) -> Setup:
    """A fresh platform in `folder`: civil affairs publishes the resource and loads `rows` records; public
    security holds an API grant of every item for one scenario, and an API token."""
    db_path = folder / "gongshu.db"
    url = f"sqlite:///{db_path}"
    os.environ.update(GONGSHU_DATABASE_URL=url, GONGSHU_DATA_DIR=str(folder), GONGSHU_BACKGROUND="external")
    from gongshu.aggregation.ingest import ingest_file
    from gongshu.catalog import service as catalog
    from gongshu.kernel import config, db
    from gongshu.kernel.access.grants import create_grant
    from gongshu.kernel.bootstrap import initialise
    from gongshu.kernel.identity.models import Organisation, RoleAssignment, User
    from gongshu.kernel.identity.service import build_actor
    from gongshu.kernel.identity.tokens import issue_token
    from gongshu.kernel.timeutil import now
    from gongshu.kernel.workflow import engine
    from gongshu.store.service import get_resource

    config.reset_settings()
    initialise(url)
    with db.session_scope() as s:

        def actor(username: str, org: Organisation, role: str) -> Any:
            u = User(username=username, display_name=username, organisation_id=org.id, password_hash="x")
            s.add(u)
            s.flush()
            s.add(RoleAssignment(user_id=u.id, organisation_id=org.id, role=role))
            s.flush()
            return build_actor(s, u)

        orgs = {
            code: Organisation(code=code, name_zh=code, name_en=code, kind=kind)
            for code, kind in (("bigdata", "authority"), ("civil", "department"), ("police", "department"))
        }
        s.add_all(orgs.values())
        s.flush()
        officer = actor("civil_officer", orgs["civil"], "catalog_officer")
        clerk = actor("civil_clerk", orgs["civil"], "data_officer")
        reviewer = actor("reviewer", orgs["bigdata"], "reviewer")
        police = actor("police_clerk", orgs["police"], "data_officer")
        entry = catalog.create_draft(s, officer, _entry())
        case = catalog.submit_for_review(s, officer, entry.id)
        s.commit()
        engine.decide(s, reviewer, case.id, "approve")
        code = entry.resource_code
    csv_path = folder / "rows.csv"
    started = time.perf_counter()
    write_csv(csv_path, rows)
    report = ingest_file(clerk, code, csv_path)
    print(f"loaded {report['accepted']:,} rows in {time.perf_counter() - started:.0f} s")
    with db.session_scope() as s:
        items = ["id_number", "full_name", "registered_on", "children", "allowance", "district"]
        create_grant(
            s,
            reviewer,
            consumer_org_id=orgs["police"].id,
            resource_id=code,
            items=items,
            scenario=SCENARIO,
            delivery_method="api",
            valid_from=now() - dt.timedelta(days=1),
            valid_to=now() + dt.timedelta(days=30),
        )
        token, _ = issue_token(s, police, name="bench")
        table = get_resource(s, code).table_name
    db.dispose_all()
    rng = random.Random(7)
    return Setup(db_path, url, code, table, token, [_key(rng.randrange(rows)) for _ in range(500)])


def start(cmd: list[str], port: int, env: dict[str, str], probe: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{cmd[0]} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


class Target:
    """The URLs of the three query kinds on one server (cursors fetched beforehand)."""

    def __init__(self, name: str, base: str, headers: dict[str, str]) -> None:
        self.name, self.base, self.headers = name, base, headers
        self.urls: dict[str, list[str]] = {}


def gongshu_target(setup: Setup, port: int) -> Target:
    t = Target("gongshu", f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {setup.token}"})
    rows = f"/api/v1/data/{setup.code}/rows?scenario={quote(SCENARIO)}"
    t.urls["equals"] = [f"{rows}&filter[id_number]={k}" for k in setup.keys]
    rng = "&filter[registered_on][gte]=2005-01-01&filter[registered_on][lte]=2015-12-31&limit=100"
    t.urls["range"] = [f"{rows}{rng}&filter[id_number][gte]={k}" for k in setup.keys]
    nexts = []
    for url in t.urls["range"][:100]:
        cursor = httpx.get(t.base + url, headers=t.headers, timeout=30).json()["next"]
        if cursor is not None:  # a key near the end has no next page
            nexts.append(f"{url}&after={cursor}")
    t.urls["next"] = nexts
    return t


def datasette_target(setup: Setup, port: int) -> Target:
    t = Target("datasette", f"http://127.0.0.1:{port}", {})
    base = f"/{setup.db_path.stem}/{setup.table}.json?_shape=objects&_nocount=1&_nofacet=1&_nosuggest=1"
    t.urls["equals"] = [f"{base}&id_number__exact={k}" for k in setup.keys]
    rng = "&registered_on__gte=2005-01-01&registered_on__lte=2015-12-31&_size=100"
    t.urls["range"] = [f"{base}{rng}&id_number__gte={k}" for k in setup.keys]
    nexts = []
    for url in t.urls["range"][:100]:
        token = httpx.get(t.base + url, timeout=30).json()["next"]
        if token is not None:  # a key near the end has no next page
            nexts.append(f"{url}&_next={quote(str(token))}")
    t.urls["next"] = nexts
    return t


async def _drive(
    base: str, headers: dict[str, str], urls: list[str], conns: int, seconds: float
) -> list[float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
        stop = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                resp = await client.get(urls[i % len(urls)])
                if resp.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
                i += conns

        await asyncio.gather(*(worker(n) for n in range(conns)))
    if errors:
        print(f"  {errors} responses were not 200", file=sys.stderr)
    return latencies


def _client_process(args: tuple[str, dict[str, str], list[str], int, float]) -> list[float]:
    return asyncio.run(_drive(*args))


def load(target: Target, kind: str, concurrency: int, seconds: float, clients: int) -> dict[str, float]:
    """Drive `concurrency` connections (split over `clients` processes) for `seconds`."""
    per = max(1, concurrency // clients)
    urls = target.urls[kind]
    jobs = [(target.base, target.headers, urls[c::clients] or urls, per, seconds) for c in range(clients)]
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(clients) as pool:
        results = pool.map(_client_process, jobs)
    elapsed = time.perf_counter() - started
    lat = sorted(x for r in results for x in r)
    return {
        "rps": len(lat) / min(elapsed, seconds + 1),
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "n": len(lat),
    }


def load_wrk(target: Target, kind: str, concurrency: int, seconds: float, folder: Path) -> dict[str, float]:
    """Drive `concurrency` connections for `seconds` (whole, at least 1) with one wrk process, one thread;
    the same dict as `load`."""
    paths = folder / f"wrk-{target.name}-{kind}.txt"
    paths.write_text("\n".join(target.urls[kind]) + "\n", encoding="utf-8")
    script = folder / "wrk-rotate.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    cmd = ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s", "--timeout", "60s"]
    cmd += ["-s", str(script)]
    for name, value in target.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(target.base + "/")
    env = {**os.environ, "WRK_PATHS": str(paths)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"requests"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    r = json.loads(lines[-1])
    if r["non2xx"] or r["errors"]:
        print(
            f"  {target.name} {kind}: {r['non2xx']} responses were not 2xx, "
            f"{r['errors']} connect/read/write/timeout errors",
            file=sys.stderr,
        )
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50": r["p50_us"] / 1000,
        "p99": r["p99_us"] / 1000,
        "n": r["requests"],
    }


def index_backlog() -> float:
    """R26: build the subjects' index of the reads so far, as the platform's `audit.index_subjects` job
    does after them (the read itself only writes its chained entry); returns the time it took."""
    from gongshu.kernel import db
    from gongshu.kernel.audit.subjects import index_subjects

    started = time.perf_counter()
    while True:
        with db.session_scope() as s:
            if not index_subjects(s):
                break
    db.dispose_all()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes (httpx only)")
    parser.add_argument(
        "--workers", type=int, default=2, help="web processes of the platform (one per CPU of the machine)"
    )
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="auto: wrk when it is on PATH, else httpx",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    has_wrk = shutil.which("wrk") is not None
    if args.load_generator == "wrk" and not has_wrk:
        parser.error("wrk is not on PATH (Debian: apt-get install wrk)")
    generator = (
        "wrk" if args.load_generator == "wrk" or (args.load_generator == "auto" and has_wrk) else "httpx"
    )
    folder = Path(tempfile.mkdtemp(prefix="gongshu-bench-"))
    setup = build(folder, args.rows)
    env = {**os.environ, "GONGSHU_DATABASE_URL": setup.url, "GONGSHU_DATA_DIR": str(folder)}
    bin_dir = Path(sys.executable).parent
    g_port, d_port = _free_port(), _free_port()
    g_cmd = [str(bin_dir / "gongshu"), "serve", "--workers", str(args.workers), "--host", "127.0.0.1"]
    g_cmd += ["--port", str(g_port), "--log-level", "warning", "--no-access-log"]
    d_cmd = [str(bin_dir / "datasette"), "serve", str(setup.db_path), "--host", "127.0.0.1"]
    d_cmd += ["--port", str(d_port), "--setting", "max_returned_rows", "1000"]
    procs = [start(g_cmd, g_port, env, "/healthz"), start(d_cmd, d_port, env, "/-/versions.json")]
    try:
        targets = [gongshu_target(setup, g_port), datasette_target(setup, d_port)]
        index_backlog()  # the reads that fetched the cursors
        results: dict[tuple[str, str], dict[str, float]] = {}
        for kind in KINDS:
            for target in targets:
                if generator == "wrk":
                    r = load_wrk(target, kind, args.concurrency, args.seconds, folder)
                else:
                    r = load(target, kind, args.concurrency, args.seconds, args.clients)
                results[(target.name, kind)] = r
                if target.name == "gongshu":  # the deferred index work counts in our window
                    r["index_s"] = index_backlog()
                    r["rps"] = r["n"] / (r["n"] / r["rps"] + r["index_s"])
                    print(f"gongshu    {kind:7} subjects' index of the window's reads: {r['index_s']:.2f} s")
                print(
                    f"{target.name:10} {kind:7} {r['rps']:8.0f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms"
                )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\n{args.rows:,} rows, {args.concurrency} connections, {args.seconds:.0f} s per kind and server")
    print(
        f"gongshu: gongshu serve --workers {args.workers} (one SO_REUSEPORT socket each); "
        "Datasette: one process, as it runs by default"
    )
    if generator == "wrk":
        print(f"load generator: wrk (one process, 1 thread, {args.concurrency} connections)")
    else:
        print(f"load generator: httpx ({args.clients} processes, {args.concurrency} connections in all)")
    print("| query | gongshu req/s | p50 / p99 ms | Datasette req/s | p50 / p99 ms | ratio |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for kind in KINDS:
        g, d = results[("gongshu", kind)], results[("datasette", kind)]
        ratios.append(g["rps"] / d["rps"])
        print(
            f"| {kind} | {g['rps']:.0f} | {g['p50']:.1f} / {g['p99']:.1f} | {d['rps']:.0f} | "
            f"{d['p50']:.1f} / {d['p99']:.1f} | {ratios[-1]:.2f}× |"
        )
    overall = statistics.geometric_mean(ratios)
    print(f"\nratio (geometric mean): {overall:.2f}× Datasette's requests/s (goal ≥ {GOAL:.0f}×)")
    if args.keep:
        print(f"data folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if overall >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
