"""R15–R18, R22, R26: the proof that nothing leaks — every path that returns data, tried by every actor
that must get nothing (no grant, an expired grant, a revoked grant, a grant for another scenario, asking
for items outside the grant, another organisation, a not-shared entry, an anonymous user, a public
account). Each cell gets nothing: a refusal status and no ID number or record value anywhere in the
response; each attempt on a data path is in the audit log as "denied"; metadata paths (CKAN, DCAT,
search) do not show the entry at all. One positive control per path proves the matrix can fail.

The world is built once per module (one database state, read by every cell)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import org, user
from conftest import _clean
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select, text, update
from store_fixtures import HEADER, publish, store_city, write

from gongshu.aggregation import interface
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import config, db, timeutil
from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.access.models import Grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.audit.subjects import entries_of_subject
from gongshu.kernel.bootstrap import seed
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import Organisation, User
from gongshu.kernel.identity.service import build_actor
from gongshu.kernel.timeutil import now
from gongshu.sharing import db_table, files, streams
from gongshu.web.app import create_app

SCENARIO = "婚育服务一件事"
OTHER_SCENARIO = "企业开办一件事"
GRANTED = ["id_number", "full_name", "registered_on", "children"]  # not allowance, not active
METHODS = ("api", "file", "db_table", "stream")
IDS = [make_id_number("110101", dt.date(1979, 4, 2), n) for n in range(611, 619)]
NS_IDS = [make_id_number("110102", dt.date(1968, 9, 30), n) for n in range(711, 715)]
OWN_ID = make_id_number("110105", dt.date(2000, 1, 1), 801)  # the public account's own number: no records
NAMES = [f"矩阵居民{chr(0x7532 + i)}" for i in range(len(IDS))]
NS_NAMES = [f"不共享人{chr(0x5B50 + i)}" for i in range(len(NS_IDS))]
ALLOWANCES = [f"{7000 + i}.37" for i in range(len(IDS))]
QUARANTINED = "隔离行秘密值"
UPSTREAM_NAME = "接口上游姓名"
UPSTREAM_ID = make_id_number("110106", dt.date(1955, 5, 5), 901)
# Every value that must never reach a refused caller.
SECRETS = [*IDS, *NS_IDS, *NAMES, *NS_NAMES, *ALLOWANCES, QUARANTINED, UPSTREAM_NAME, UPSTREAM_ID]


def _csv(ids: list[str], names: list[str], extra: str = "") -> str:
    rows = [
        f"{k},{n},2023-0{1 + i % 8}-1{i % 9},{i % 3},{ALLOWANCES[i % len(ALLOWANCES)]},{'是' if i % 2 else '否'}"
        for i, (k, n) in enumerate(zip(ids, names, strict=True))
    ]
    return HEADER + "\n" + "\n".join(rows) + "\n" + extra


class Upstream:
    """A department's own API (R7) on 127.0.0.1, answering one record for any id_number."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list[str] = []
        up = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                up.calls.append(self.path)
                body = json.dumps(
                    {
                        "rows": [
                            {
                                "id_number": UPSTREAM_ID,
                                "full_name": UPSTREAM_NAME,
                                "registered_on": "2020-02-02",
                            }
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _login(username: str) -> TestClient:
    with session_scope() as s:
        u = s.scalars(select(User).where(User.username == username)).one()
        raw, _ = sessions.start_session(s, u, ip=None, user_agent="pytest", second_factor_done=True)
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client


@pytest.fixture(scope="module")
def w(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("matrix")
    sqlite_dirs = pytest.MonkeyPatch()  # R19: the consumers' SQLite files are written in `tmp` only
    sqlite_dirs.setenv("GONGSHU_EXTERNAL_SQLITE_DIRS", str(tmp))
    config.reset_settings()
    _clean(db_url)
    seed(db_url)
    up = Upstream()
    s = db.session_factory(db_url)()
    c = store_city(s)
    orgs = {
        "expired": org(s, "tax", "department", "市税务局", "Tax Bureau"),
        "revoked": org(s, "housing", "department", "市住建局", "Housing Bureau"),
        "other_scenario": org(s, "market", "department", "市市场监管局", "Market Regulation"),
        "no_grant": org(s, "transport", "department", "市交通局", "Transport Bureau"),
        "other_org": org(s, "health", "department", "市卫健委", "Health Commission"),
    }
    for name, o in orgs.items():
        c[name] = user(s, f"{name}_clerk", o, "data_officer")
    c["coordinator"] = user(s, "coordinator", c["authority"], "coordinator")
    person = s.scalars(select(Organisation).where(Organisation.code == "p1")).one()
    person.id_number = IDS[0]
    other_person = org(s, "p2", "person")
    other_person.id_number = OWN_ID
    c["public"] = user(s, "public2", other_person, "public")
    s.commit()
    c["citizen"] = build_actor(s, s.scalars(select(User).where(User.username == "citizen")).one())
    methods = list(METHODS)
    code = publish(
        s,
        c,
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="涉及个人隐私",
        sharing_methods=methods,
        update_cycle="on_change",
    ).resource_code
    ns = publish(
        s,
        c,
        name="收养登记信息",
        name_en="Adoption registration",
        keywords=["收养"],
        sharing_attribute="not_shared",
        sharing_conditions=[],
        legal_basis="《收养登记办法》第十条",
        sharing_methods=[],
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="涉及个人隐私",
    ).resource_code
    via = publish(
        s,
        c,
        name="档案查询接口",
        name_en="Archive interface",
        keywords=["档案"],
        sharing_methods=["api"],
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="涉及个人隐私",
    ).resource_code
    open_code = publish(
        s,
        c,
        name="公开婚姻统计",
        name_en="Open marriage statistics",
        keywords=["统计"],
        sharing_attribute="unconditional",
        sharing_conditions=[],
        open_attribute="general",
        deidentified=True,
        open_conditions=[],
    ).resource_code
    s.rollback()
    bad = f"not-an-id,{QUARANTINED},2023-01-01,1,1.00,是\n"
    # Incremental: one change event per record, which the stream cells deliver (a first FULL load would be
    # one `load` event without records).
    rep = ingest_file(
        c["civil_clerk"], code, write(tmp, "m.csv", _csv(IDS, NAMES, bad)), mode="incremental", url=db_url
    )
    assert rep["accepted"] == len(IDS), rep
    c["batch_id"] = int(rep["id"])
    rep = ingest_file(c["civil_clerk"], ns, write(tmp, "n.csv", _csv(NS_IDS, NS_NAMES)), url=db_url)
    assert rep["accepted"] == len(NS_IDS), rep
    # Grants: police (valid), tax (to expire), housing (to revoke), market (another scenario); every method.
    c["grants"] = {}
    holders = {
        "valid": c["police"],
        "expired": orgs["expired"],
        "revoked": orgs["revoked"],
        "other_scenario": orgs["other_scenario"],
    }
    for who, o in holders.items():
        for m in methods:
            for res in (code, via) if m == "api" else (code,):  # the interface entry: api only
                g = create_grant(
                    s,
                    SYSTEM,
                    consumer_org_id=o.id,
                    resource_id=res,
                    items=GRANTED,
                    scenario=OTHER_SCENARIO if who == "other_scenario" else SCENARIO,
                    delivery_method=m,
                    valid_from=now() - dt.timedelta(days=1),
                    valid_to=now() + dt.timedelta(days=30),
                )
                c["grants"][(who, m, res)] = g.id
    s.commit()
    # While every grant is valid: database targets registered, file packages generated.
    holder_actor = {"valid": c["police_clerk"], "expired": c["expired"], "revoked": c["revoked"]}
    c["targets"], c["packages"] = {}, {}
    for who, actor in holder_actor.items():
        t = db_table.register_target(
            s, actor, c["grants"][(who, "db_table", code)], f"sqlite:///{tmp / (who + '.db')}", "marriages"
        )
        s.commit()
        c["targets"][who] = (t.id, tmp / f"{who}.db")
        p = files.generate_package(actor, c["grants"][(who, "file", code)], url=db_url)
        c["packages"][who] = (p.id, sorted(p.files)[0])
    with session_scope() as ss:
        interface.register_interface(
            ss,
            c["civil_clerk"],
            via,
            base_url=up.url,
            path_template="/records",
            params={"id_number": "id_number"},
            timeout_seconds=2.0,
            legal_basis="《婚姻登记条例》档案不得集中存储",
        )
    with session_scope() as ss:
        interface.confirm_interface(ss, c["reviewer"], via)
    # Now the tax grants expire and the housing grants are revoked.
    for (who, _m, _r), gid in c["grants"].items():
        if who == "expired":
            s.execute(
                update(Grant)
                .where(Grant.id == gid)
                .values(valid_from=now() - dt.timedelta(days=60), valid_to=now() - dt.timedelta(days=1))
            )
        elif who == "revoked":
            revoke_grant(s, c["reviewer"], gid, reason="项目结束", provider_org_id=c["civil"].id)
    s.commit()
    c.update(code=code, ns=ns, via=via, open=open_code, upstream=up, url=db_url)
    c["clients"] = {"anonymous": TestClient(create_app())}
    for name, actor in {
        "valid": c["police_clerk"],
        "expired": c["expired"],
        "revoked": c["revoked"],
        "other_scenario": c["other_scenario"],
        "no_grant": c["no_grant"],
        "other_org": c["other_org"],
        "public": c["public"],
        "citizen": c["citizen"],
        "reviewer": c["reviewer"],
    }.items():
        c["clients"][name] = _login(actor.username)
    s.close()
    yield c
    up.close()
    timeutil.freeze(None)
    sqlite_dirs.undo()
    config.reset_settings()


# ---- helpers -------------------------------------------------------------------------------------------


def _seq() -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)


def _entries_after(seq: int) -> list[AuditEntry]:
    with read_scope() as s:
        out = list(s.scalars(select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))
        s.expunge_all()
        return out


def _no_secret(body: bytes | str) -> None:
    data = body if isinstance(body, bytes) else body.encode()
    leaked = [v for v in SECRETS if v.encode() in data]
    assert not leaked, f"leaked {leaked!r}"


def _assert_denied_logged(seq: int, actor_label: str | None) -> None:
    denied = [e for e in _entries_after(seq) if e.outcome == "denied"]
    assert denied, "the refused attempt is not in the audit log"
    if actor_label is not None:
        assert any(e.actor_label == actor_label for e in denied), [(e.actor_label, e.action) for e in denied]
    for e in denied:
        _no_secret(repr(e.detail) + repr(e.subject_keys))


def _assert_read_logged(seq: int, key: str) -> None:
    h = subject_hash(key)
    with read_scope() as s:  # the tracker's look-up (R26): index or, before the job ran, the entries
        hits = s.scalars(select(AuditEntry.seq).where(entries_of_subject(h), AuditEntry.seq > seq)).all()
        ok = [e for e in _entries_after(seq) if e.outcome == "ok" and e.seq in set(hits)]
    assert ok, "the allowed read is not audited with the subject key"


# ---- actors and cells ----------------------------------------------------------------------------------

ACTORS = {
    "no_grant": "no_grant",
    "expired_grant": "expired",
    "revoked_grant": "revoked",
    "other_scenario": "other_scenario",
    "more_items": "valid",
    "other_org": "other_org",
    "not_shared_entry": "valid",
    "anonymous": "anonymous",
    "public_account": "public",
}
USERNAMES = {
    "no_grant": "no_grant_clerk",
    "expired": "expired_clerk",
    "revoked": "revoked_clerk",
    "other_scenario": "other_scenario_clerk",
    "valid": "police_clerk",
    "other_org": "other_org_clerk",
    "public": "public2",
    "anonymous": None,
}


def _rows_query(w: dict[str, Any], cell: str, fmt: str, code_key: str = "code") -> str:
    code = w["ns"] if cell == "not_shared_entry" else w[code_key]
    q = f"scenario={SCENARIO}&format={fmt}"
    if cell == "more_items":
        q += "&items=id_number,full_name,allowance"
    return f"/api/v1/data/{code}/rows?{q}"


def _http_cell(w: dict[str, Any], cell: str, url: str, statuses: tuple[int, ...] = (403, 404)) -> None:
    who = ACTORS[cell]
    before = _seq()
    resp = w["clients"][who].get(url)
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    _no_secret(resp.content)
    _no_secret(repr(dict(resp.headers)))
    _assert_denied_logged(before, USERNAMES[who])


CELLS = list(ACTORS)


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("cell", CELLS)
def test_row_api_refuses(w: dict[str, Any], cell: str, fmt: str) -> None:
    _http_cell(w, cell, _rows_query(w, cell, fmt))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_row_api_positive_control(w: dict[str, Any], fmt: str) -> None:
    before = _seq()
    resp = w["clients"]["valid"].get(_rows_query(w, "valid", fmt))
    assert resp.status_code == 200, resp.text
    assert IDS[0].encode() in resp.content and NAMES[0].encode() in resp.content
    assert ALLOWANCES[0].encode() not in resp.content  # not a granted item
    _assert_read_logged(before, IDS[0])


@pytest.mark.parametrize("cell", [c for c in CELLS if c != "more_items"])  # a stream names no items
def test_sse_stream_refuses(w: dict[str, Any], cell: str) -> None:
    code = w["ns"] if cell == "not_shared_entry" else w["code"]
    _http_cell(w, cell, f"/api/v1/data/{code}/stream?scenario={SCENARIO}&after=0")


def test_stream_positive_control(w: dict[str, Any]) -> None:
    before = _seq()
    with session_scope() as s:
        batch = streams.deliver_batch(s, w["police_clerk"], w["code"], SCENARIO, 0, path="matrix")
        body = bytes(batch.body)
    assert IDS[0].encode() in body and ALLOWANCES[0].encode() not in body
    _assert_read_logged(before, IDS[0])


@pytest.mark.parametrize("cell", [c for c in CELLS if c != "more_items"])
def test_service_interface_refuses(w: dict[str, Any], cell: str) -> None:
    code = w["ns"] if cell == "not_shared_entry" else w["via"]
    calls = len(w["upstream"].calls)
    statuses = (403, 404, 409) if cell == "not_shared_entry" else (403, 404)
    who = ACTORS[cell]
    before = _seq()
    resp = w["clients"][who].get(f"/api/v1/data/{code}/interface?scenario={SCENARIO}&id_number={IDS[1]}")
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    _no_secret(resp.content)
    assert len(w["upstream"].calls) == calls, "a refused call was forwarded"
    if cell != "not_shared_entry" or resp.status_code == 403:
        _assert_denied_logged(before, USERNAMES[who])


def test_service_interface_positive_control(w: dict[str, Any]) -> None:
    before = _seq()
    resp = w["clients"]["valid"].get(
        f"/api/v1/data/{w['via']}/interface?scenario={SCENARIO}&id_number={IDS[1]}"
    )
    assert resp.status_code == 200, resp.text
    assert UPSTREAM_NAME in resp.text
    _assert_read_logged(before, UPSTREAM_ID)


# ---- grant-addressed paths: file packages, database tables ---------------------------------------------

GRANT_CELLS = {
    # cell: (acting holder, whose grant/package/target). These paths are addressed by a grant, which fixes
    # the scenario and the items: "another scenario" and "more items" cannot be asked for here; an actor
    # without a grant can only name another organisation's.
    "expired_grant": ("expired", "expired"),
    "revoked_grant": ("revoked", "revoked"),
    "other_org": ("other_org", "valid"),
    "no_grant": ("no_grant", "valid"),
    "other_scenario_org": ("other_scenario", "valid"),
}


def _actor(w: dict[str, Any], who: str) -> Actor:
    actor: Actor = w["police_clerk"] if who == "valid" else w[who]
    return actor


def _service_denied(fn: Callable[[], Any], who: str) -> Any:
    before = _seq()
    result = None
    try:
        result = fn()
    except GongshuError as exc:
        assert exc.status_code in (403, 404), exc.to_dict()
        _no_secret(repr(exc.to_dict()))
    _assert_denied_logged(before, USERNAMES[who])
    return result


@pytest.mark.parametrize("cell", list(GRANT_CELLS))
def test_file_package_generation_refuses(w: dict[str, Any], cell: str) -> None:
    who, owner = GRANT_CELLS[cell]
    gid = w["grants"][(owner, "file", w["code"])]
    result = _service_denied(lambda: files.generate_package(_actor(w, who), gid, url=w["url"]), who)
    assert result is None, "a package was generated"


DOWNLOAD_CELLS = {**GRANT_CELLS, "anonymous": ("anonymous", "valid"), "public_account": ("public", "valid")}


@pytest.mark.parametrize("cell", list(DOWNLOAD_CELLS))
def test_file_package_download_refuses(w: dict[str, Any], cell: str) -> None:
    who, owner = DOWNLOAD_CELLS[cell]
    pid, name = w["packages"][owner]
    before = _seq()
    resp = w["clients"][who].get(f"/sharing/delivery/files/{pid}/{name}", follow_redirects=False)
    assert resp.status_code in (401, 403, 404) or (resp.status_code in (302, 303) and who == "anonymous"), (
        resp.status_code
    )
    _no_secret(resp.content)
    if who != "anonymous":
        _assert_denied_logged(before, USERNAMES[who])


def test_file_package_positive_control(w: dict[str, Any]) -> None:
    pid, name = w["packages"]["valid"]
    before = _seq()
    resp = w["clients"]["valid"].get(f"/sharing/delivery/files/{pid}/{name}")
    assert resp.status_code == 200
    assert ALLOWANCES[0].encode() not in resp.content
    entries = [e for e in _entries_after(before) if e.outcome == "ok" and e.action == "data.read"]
    assert entries, "the download is not audited"
    before = _seq()
    package = files.generate_package(
        w["police_clerk"], w["grants"][("valid", "file", w["code"])], url=w["url"]
    )
    csv_name = next(n for n in package.files if n.endswith(".zip"))
    with zipfile.ZipFile(Path(package.folder) / csv_name) as z:
        data = b"".join(z.read(n) for n in z.namelist() if n.endswith(".csv"))
    assert IDS[0].encode() in data and ALLOWANCES[0].encode() not in data
    _assert_read_logged(before, IDS[0])


def _consumer_rows(path: Path) -> int:
    if not path.exists():
        return 0
    eng = create_engine(f"sqlite:///{path}")
    try:
        if not inspect(eng).has_table("marriages"):
            return 0
        with eng.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM marriages")).scalar() or 0)
    finally:
        eng.dispose()


DB_CELLS = {k: v for k, v in GRANT_CELLS.items()}


@pytest.mark.parametrize("cell", list(DB_CELLS))
def test_db_table_sync_refuses(w: dict[str, Any], cell: str) -> None:
    who, owner = DB_CELLS[cell]
    target_id, path = w["targets"][owner]
    rows_before = _consumer_rows(path)
    report = _service_denied(lambda: db_table.sync(_actor(w, who), target_id, url=w["url"]), who)
    assert report is None or report.status == "stopped"
    assert _consumer_rows(path) == rows_before, "a refused sync wrote rows"


def test_db_table_positive_control(w: dict[str, Any]) -> None:
    target_id, path = w["targets"]["valid"]
    before = _seq()
    report = db_table.sync(w["police_clerk"], target_id, url=w["url"])
    assert report.status != "stopped" and _consumer_rows(path) == len(IDS)
    _assert_read_logged(before, IDS[0])


# ---- NATS grant delivery (real server, skipped when it is not running) ---------------------------------


def _nats_up() -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", 4222)) == 0


NATS_CELLS = {k: v for k, v in GRANT_CELLS.items()}


@pytest.mark.skipif(not _nats_up(), reason="no NATS server on 127.0.0.1:4222")
@pytest.mark.parametrize("cell", [*NATS_CELLS, "positive_control"])
def test_nats_grant_delivery(w: dict[str, Any], cell: str, tmp_path: Path, monkeypatch: Any) -> None:
    import uuid

    from gongshu.sharing import nats_bridge

    who, owner = NATS_CELLS.get(cell, ("valid", "valid"))
    gid = w["grants"][(owner, "stream", w["code"])]
    tag = uuid.uuid4().hex[:8]
    names = nats_bridge.NatsNames(
        changes_stream=f"MATRIX_C_{tag}",
        changes_prefix=f"matrix.{tag}.changes",
        grants_stream=f"MATRIX_G_{tag}",
        grants_prefix=f"matrix.{tag}.grants",
        state_file=f"matrix_{tag}.json",
    )

    async def run() -> tuple[Any, list[bytes]]:
        nc, js = await nats_bridge.connect()
        got: list[bytes] = []
        try:
            await nats_bridge.ensure_streams(js, names)
            try:
                result: Any = await nats_bridge.deliver_to_nats(
                    _actor(w, who), gid, js=js, names=names, url=w["url"]
                )
            except GongshuError as exc:
                result = exc
            sub = await js.pull_subscribe(names.grant_subject(gid), stream=names.grants_stream)
            try:
                for m in await sub.fetch(100, timeout=1.0):
                    got.append(m.data)
            except Exception:
                pass
            for stream in (names.changes_stream, names.grants_stream):
                await js.delete_stream(stream)
            return result, got
        finally:
            await nc.close()

    before = _seq()
    result, got = asyncio.run(run())
    published = b"".join(got)
    if cell == "positive_control":
        assert IDS[0].encode() in published, result
        _assert_read_logged(before, IDS[0])
        return
    _no_secret(published)
    assert isinstance(result, GongshuError) or result.ended, result
    _assert_denied_logged(before, USERNAMES[who])


# ---- raw rows of the store: quarantine, base look-up, one's own data -----------------------------------

PEOPLE = {
    "no_grant": "no_grant",
    "other_org": "other_org",
    "granted_consumer": "valid",
    "anonymous": "anonymous",
    "public_account": "public",
    "data_subject": "citizen",
}


def _people_cell(w: dict[str, Any], who: str, url: str) -> None:
    before = _seq()
    resp = w["clients"][who].get(url, follow_redirects=False)
    assert resp.status_code in (401, 403, 404) or (who == "anonymous" and resp.status_code in (302, 303)), (
        resp.status_code,
        resp.text[:300],
    )
    _no_secret(resp.content)
    if who != "anonymous":
        label = "citizen" if who == "citizen" else USERNAMES[who]
        _assert_denied_logged(before, label)


@pytest.mark.parametrize("cell", list(PEOPLE))
def test_quarantine_rows_refused(w: dict[str, Any], cell: str) -> None:
    _people_cell(w, PEOPLE[cell], f"/api/v1/data/batches/{w['batch_id']}/quarantine")


def test_quarantine_positive_control(w: dict[str, Any]) -> None:
    before = _seq()
    resp = _login("civil_clerk").get(f"/api/v1/data/batches/{w['batch_id']}/quarantine")
    assert resp.status_code == 200 and QUARANTINED in resp.text
    assert any(e.action == "store.quarantine_read" and e.outcome == "ok" for e in _entries_after(before))


@pytest.mark.parametrize("cell", list(PEOPLE))
def test_person_lookup_refused(w: dict[str, Any], cell: str) -> None:
    _people_cell(w, PEOPLE[cell], f"/data/base/person?id_number={IDS[0]}")


def test_person_lookup_positive_control(w: dict[str, Any]) -> None:
    before = _seq()
    client = w["clients"]["reviewer"]
    form = client.get("/data/base/person")  # R11: the ID number is posted, never put in the address
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    resp = client.post("/data/base/person", data={"id_number": IDS[0], "csrf_token": csrf.group(1)})
    assert resp.status_code == 200 and NAMES[0] in resp.text and NAMES[1] not in resp.text
    _assert_read_logged(before, IDS[0])


@pytest.mark.parametrize("who", ["public", "valid", "other_org"])
def test_my_data_of_another_person_shows_nothing(w: dict[str, Any], who: str) -> None:
    resp = w["clients"][who].get("/my/data", follow_redirects=False)
    assert resp.status_code in (200, 403), resp.status_code
    _no_secret(resp.content)


def test_my_data_positive_control(w: dict[str, Any]) -> None:
    before = _seq()
    resp = w["clients"]["citizen"].get("/my/data")
    assert resp.status_code == 200 and NAMES[0] in resp.text
    assert not any(n in resp.text for n in NAMES[1:]) and not any(i in resp.text for i in IDS[1:])
    _assert_read_logged(before, IDS[0])


# ---- metadata paths: the non-open entries are not there at all -------------------------------------------

META_ACTORS = ["anonymous", "public"]


def _absent(w: dict[str, Any], body: bytes) -> None:
    _no_secret(body)
    low = body.lower()
    for code in (w["code"], w["ns"], w["via"]):
        assert code.lower().encode() not in low, f"{code} is shown"


META_NAMES = [
    "婚姻登记信息",
    "收养登记信息",
    "档案查询接口",
    "Marriage registration",
    "Adoption registration",
]


def _unknown(w: dict[str, Any], who: str, url: str, code: str) -> None:
    """A non-open entry's single-entry URL answers exactly as a code that does not exist (only the asked
    code is echoed): not even its existence is told."""
    resp = w["clients"][who].get(url.format(code=code))
    assert resp.status_code in (403, 404), resp.status_code
    _no_secret(resp.content)
    assert not any(n.encode() in resp.content for n in META_NAMES), resp.text[:300]
    ghost = w["clients"][who].get(url.format(code="CIVIL_AFFAIRS-G-A01-02-03-04-9999"))
    assert ghost.status_code == resp.status_code


@pytest.mark.parametrize("who", META_ACTORS)
@pytest.mark.parametrize("entry", ["code", "ns", "via"])
def test_ckan_package_show_of_non_open_entries(w: dict[str, Any], who: str, entry: str) -> None:
    _unknown(w, who, "/api/3/action/package_show?id={code}", w[entry])
    _unknown(w, who, "/api/3/action/package_show?id={code}", w[entry].lower())


@pytest.mark.parametrize("who", META_ACTORS)
@pytest.mark.parametrize("q", ["婚姻", "收养", "档案", ""])
def test_ckan_package_search_and_catalog_search(w: dict[str, Any], who: str, q: str) -> None:
    for url in (f"/api/3/action/package_search?q={q}&rows=100", f"/catalog?q={q}", f"/api/v1/catalog?q={q}"):
        resp = w["clients"][who].get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        _absent(w, resp.content)
        assert not any(n.encode() in resp.content for n in META_NAMES[1:3]), url


@pytest.mark.parametrize("who", META_ACTORS)
def test_dcat_of_non_open_entries(w: dict[str, Any], who: str) -> None:
    for url in ("/catalog.ttl", "/catalog.jsonld"):
        resp = w["clients"][who].get(url)
        assert resp.status_code == 200
        _absent(w, resp.content)
    for entry in ("code", "ns", "via"):
        for fmt in ("ttl", "jsonld"):
            _unknown(w, who, "/catalog/{code}." + fmt, w[entry])


def test_metadata_positive_control(w: dict[str, Any]) -> None:
    anon = w["clients"]["anonymous"]
    for url in ("/api/3/action/package_search?q=&rows=100", "/catalog.ttl", "/catalog?q=统计"):
        resp = anon.get(url)
        assert resp.status_code == 200 and w["open"].lower().encode() in resp.content.lower(), url
    assert anon.get(f"/api/3/action/package_show?id={w['open']}").status_code == 200


# ---- entry pages and the catalog API: metadata only, never a record --------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "public", "no_grant", "other_org", "expired", "valid"])
def test_entry_pages_show_no_records(w: dict[str, Any], who: str) -> None:
    for entry in ("code", "ns", "via"):
        for url in (f"/catalog/{w[entry]}", f"/api/v1/catalog/{w[entry]}", f"/data/quality/{w[entry]}"):
            resp = w["clients"][who].get(url, follow_redirects=False)
            _no_secret(resp.content)


@pytest.mark.parametrize("who", ["anonymous", "public", "citizen", "no_grant", "other_org", "valid"])
def test_record_documents_page_refused(w: dict[str, Any], who: str) -> None:
    """R10: a record's documents are the provider's; the asked key may be echoed, nothing else."""
    resp = w["clients"][who].get(f"/data/{w['code']}/records/{IDS[2]}/documents", follow_redirects=False)
    assert resp.status_code in (401, 403, 404) or (who == "anonymous" and resp.status_code in (302, 303))
    _no_secret(resp.content.replace(IDS[2].encode(), b""))
