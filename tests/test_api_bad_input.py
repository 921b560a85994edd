"""Bad input never breaks the API: a campaign over EVERY route under /api/ (read from the app itself, so a
new route is covered as soon as it is registered).

For each route it sends no credentials, a garbage, an expired and a revoked API token, a session cookie
without its CSRF token (unsafe methods), odd path parameters (nonexistent, non-numeric, very long, unicode,
traversal) and, to the routes that take a body, an empty body, a non-JSON body, a JSON list instead of an
object, a body missing each required field, each field of the wrong type, each string field of 1 MB, and
(multipart routes) no file, a broken multipart body and a wrong file. Expected, per the platform's rule
("bad input gets a clear error and loses nothing; security is default-deny"):

* never a 5xx;
* 401/403 without credentials, except the routes of `PUBLIC` (each with the reason it is public);
* a bad, expired or revoked token: 401 with its `auth.token_*` code, on every route, public or not;
* every 4xx in the project's error shape, `{"error": {"code": "<domain>.<reason>", "message": ...}}`
  (the CKAN-compatible routes answer in CKAN's own envelope instead: `CKAN`);
* junk input is refused (4xx), never accepted;
* a refused write leaves every table (audit excepted: refusals are audited) exactly as it was.

Each route is one test, which collects every failed probe into one message. Wrong states (deciding a
closed case, submitting an entry twice, revoking a grant twice ...) have tests of their own below.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import marriage
from conftest import _clean
from fastapi.testclient import TestClient
from sharing_fixtures import ask, entry, sharing_city
from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import db
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.identity import sessions, tokens
from gongshu.kernel.identity.models import ApiToken, User
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import attachments
from gongshu.web.app import create_app

SCENARIO = "婚育服务一件事"
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
MB = 1024 * 1024
NOT_TABLES = {"audit_entry", "audit_subject", "alembic_version"}  # refusals are audited: these may grow

# Routes anyone may call without credentials, and why (method, path) — every other route must refuse.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/api/3/action/{name}"): "CKAN-compatible read API (R22): open data",
    ("POST", "/api/3/action/{name}"): "CKAN-compatible read API (R22): POST carries the same read",
    ("GET", "/api/action/{name}"): "CKAN-compatible read API (R22), ckanapi's path",
    ("POST", "/api/action/{name}"): "CKAN-compatible read API (R22), ckanapi's path",
    ("GET", "/api/v1/catalog"): "R6: the published catalog is public",
    ("GET", "/api/v1/catalog/{code}"): "R6: a published entry is public (others are 404)",
    ("GET", "/api/v1/data/{code}/rows"): "R19: open data; the access decision point refuses the rest",
    ("GET", "/api/v1/data/{code}/interface"): "R7: open data; the access decision point refuses the rest",
    ("GET", "/api/v1/data/{code}/stream"): "R19: open data; the access decision point refuses the rest",
    ("GET", "/api/v1/receipts/{audit_seq}"): "R19: a receipt is shown to its consumer only (404 else)",
    ("POST", "/api/v1/auth/tokens"): "R5: the login of machines (username and password)",
    ("GET", "/api/docs"): "the API's documentation page",
}
CKAN = {"/api/3/action/{name}", "/api/action/{name}"}  # CKAN's envelope, not the project's error shape

# Who calls each route with valid credentials (so that bad input gets past the access check).
ACTOR: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/catalog"): "civil_officer",
    ("POST", "/api/v1/catalog/import"): "civil_officer",
    ("POST", "/api/v1/catalog/{code}/submit"): "civil_officer",
    ("PUT", "/api/v1/data/{code}/interface"): "civil_clerk",
    ("POST", "/api/v1/data/{code}/interface/confirm"): "reviewer",
    ("POST", "/api/v1/data/{code}/push"): "civil_clerk",
    ("POST", "/api/v1/data/{code}/batches"): "civil_clerk",
    ("GET", "/api/v1/data/{code}/batches"): "civil_clerk",
    ("GET", "/api/v1/data/batches/{batch_id}"): "civil_clerk",
    ("GET", "/api/v1/data/batches/{batch_id}/quarantine"): "civil_clerk",
    ("GET", "/api/v1/data/{code}/rules"): "civil_clerk",
    ("PUT", "/api/v1/data/{code}/rules"): "civil_clerk",
    ("POST", "/api/v1/cases/{case_id}/decisions"): "civil_reviewer",
    ("POST", "/api/v1/sharing/grants/{grant_id}/revoke"): "reviewer",
}
DEFAULT_ACTOR = "police_clerk"


def _valid_bodies(ids: dict[str, str]) -> dict[tuple[str, str], Any]:
    """Bodies the route accepts (or refuses only for the state of the world), so that each field's bad
    value is what the route answers; the other routes start from a body built from their schema."""
    today = dt.date.today()
    return {
        ("POST", "/api/v1/sharing/applications"): {
            "resource_code": ids["code"],
            "items": ["id_number", "full_name"],
            "scenario": SCENARIO,
            "purpose": "核验婚姻状况",
            "valid_from": today.isoformat(),
            "valid_to": (today + dt.timedelta(days=30)).isoformat(),
            "delivery_method": "api",
        },
        ("POST", "/api/v1/catalog"): marriage().model_dump(),
        ("PUT", "/api/v1/data/{code}/interface"): {
            "base_url": "https://api.civil.example.gov.cn",
            "path_template": "/marriage/{id_number}",
            "legal_basis": "《婚姻登记条例》",
        },
        ("PUT", "/api/v1/data/{code}/rules"): [{"item": "children", "kind": "range", "params": {"min": 0}}],
        ("POST", "/api/v1/cases/{case_id}/decisions"): {"decision": "return", "reasons": "补充材料"},
        ("POST", "/api/v1/cases/{case_id}/escalations"): {"reasons": "不服"},
        ("POST", "/api/v1/sharing/grants/{grant_id}/revoke"): {"reason": "不再需要"},
        ("POST", "/api/v1/notifications/read"): {"ids": [1], "all": False},
    }


# Query parameters a route reads from the request itself (not in its OpenAPI operation): (name, type).
UNDECLARED_QUERY: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("GET", "/api/v1/data/{code}/rows"): [
        ("scenario", "string"),
        ("items", "string"),
        ("sort", "string"),
        ("after", "string"),
        ("limit", "integer"),
        ("total", "boolean"),
        ("format", "string"),
        ("filter[id_number]", "string"),
        ("filter[children][gte]", "string"),
    ],
}

# Odd values for path parameters: (label, raw path segment).
ODD_SEGMENTS = [
    ("nonexistent id", "987654321"),
    ("zero", "0"),
    ("negative", "-1"),
    ("huge number", "9" * 40),
    ("non-numeric", "abc"),
    ("float", "1.5"),
    ("very long", "x" * 5000),
    ("unicode", "%E6%95%B0%E6%8D%AE%F0%9F%98%80"),
    ("traversal", "..%2F..%2Fetc%2Fpasswd"),
    ("encoded NUL", "a%00b"),
    ("sql", "1%27%20OR%20%271%27%3D%271"),
]


@dataclass
class Route:
    method: str
    path: str
    operation: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return re.findall(r"{([^}:]+)(?::[^}]*)?}", self.path)


def _api_routes() -> list[Route]:
    """Every (method, path) under /api/ the app serves, with its OpenAPI operation where it has one."""
    from fastapi.routing import iter_route_contexts

    app = create_app()
    schema = app.openapi()
    out: dict[tuple[str, str], Route] = {}
    for ctx in iter_route_contexts(app.routes):
        path = getattr(ctx, "path", "") or ""
        if not path.startswith("/api/"):
            continue
        for method in sorted(getattr(ctx, "methods", None) or ()):
            if method == "HEAD":
                continue
            op = schema["paths"].get(path, {}).get(method.lower(), {})
            out.setdefault((method, path), Route(method, path, op))
    return list(out.values())


ROUTES = _api_routes()
SCHEMAS: dict[str, Any] = create_app().openapi().get("components", {}).get("schemas", {})


def test_campaign_sees_the_whole_api() -> None:
    """The walk finds the API (a broken walk must not pass silently), and the allow-list names real
    routes only."""
    ids = {(r.method, r.path) for r in ROUTES}
    assert len(ids) >= 30, sorted(ids)
    assert not set(PUBLIC) - ids, f"PUBLIC names routes that do not exist: {set(PUBLIC) - ids}"
    assert not set(ACTOR) - ids, f"ACTOR names routes that do not exist: {set(ACTOR) - ids}"


# ---- the world the campaign runs in ----------------------------------------------------------------------


@dataclass
class World:
    url: str
    app: Any
    tokens: dict[str, str]
    ids: dict[str, str]
    session_cookie: str
    bad_tokens: dict[str, tuple[str, str]]

    def client(self, who: str | None = None, **headers: str) -> TestClient:
        h = dict(headers)
        if who:
            h["Authorization"] = f"Bearer {self.tokens[who]}"
        return TestClient(self.app, headers=h)  # a server error raises: its cause goes into the report


def _finite_stream(*_: Any, **__: Any) -> Iterator[bytes]:
    async def gen() -> Any:
        yield b": gongshu stream\n\n"

    return gen()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def world(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A published conditional resource of civil affairs with rows, a grant of it to public security, an
    open application with an attachment, and an API token for every user."""
    from gongshu.kernel.bootstrap import seed
    from gongshu.sharing import sse

    _clean(db_url)
    seed(db_url)
    mp = pytest.MonkeyPatch()
    mp.setattr(sse, "event_stream", _finite_stream)  # a granted stream would never end in a TestClient
    tmp = tmp_path_factory.mktemp("bad-input")
    s: Session = db.session_factory(db_url)()
    try:
        c = sharing_city(s)
        code = entry(s, c)
        text_rows = "\n".join(f"{k},居民{i},2024-01-0{i + 1},{i},{i}.5,是" for i, k in enumerate(IDS[:5]))
        report = ingest_file(c["civil_clerk"], code, write(tmp, "m.csv", HEADER + "\n" + text_rows + "\n"))
        assert report["accepted"] == 5, report
        grant = create_grant(
            s,
            c["reviewer"],
            consumer_org_id=c["police"].id,
            resource_id=code,
            items=["id_number", "full_name"],
            scenario=SCENARIO,
            delivery_method="api",
            valid_from=now() - dt.timedelta(days=1),
            valid_to=now() + dt.timedelta(days=30),
        )
        case = ask(s, c, code)
        s.commit()
        att = attachments.attach(s, c["police_clerk"], case.id, "note.txt", b"hello", "text/plain")
        names = [
            "police_clerk",
            "police_officer",
            "civil_clerk",
            "civil_officer",
            "civil_reviewer",
            "reviewer",
            "citizen",
        ]
        raw: dict[str, str] = {}
        token_ids: dict[str, int] = {}
        for name in names:
            raw[name], t = tokens.issue_token(s, c[name], name="campaign")
            token_ids[name] = t.id
        expired_raw, expired = tokens.issue_token(s, c["police_clerk"], name="expired")
        revoked_raw, revoked = tokens.issue_token(s, c["police_clerk"], name="revoked")
        _, spare = tokens.issue_token(s, c["police_clerk"], name="spare")  # the one DELETE may revoke
        s.flush()
        s.execute(
            update(ApiToken).where(ApiToken.id == expired.id).values(expires_at=now() - dt.timedelta(1))
        )
        revoked_id = revoked.id
        s.commit()
        tokens.revoke_token(s, c["police_clerk"], revoked_id)
        user = s.scalars(select(User).where(User.username == "police_clerk")).one()
        cookie, _ = sessions.start_session(s, user, ip=None, user_agent="pytest", second_factor_done=True)
        s.commit()
        app = create_app()
        w = World(
            url=db_url,
            app=app,
            tokens=raw,
            ids={
                "code": code,
                "case_id": str(case.id),
                "attachment_id": str(att.id),
                "batch_id": str(report["id"]),
                "grant_id": str(grant.id),
                "token_id": str(spare.id),
                "name": "package_list",
            },
            session_cookie=cookie,
            bad_tokens={
                "garbage": ("not-a-token", "auth.token_invalid"),
                "well-shaped unknown": ("gs_000000000000_" + "A" * 43, "auth.token_invalid"),
                "expired": (expired_raw, "auth.token_expired"),
                "revoked": (revoked_raw, "auth.token_revoked"),
            },
        )
        # A delivery, so that its receipt exists.
        got = w.client("police_clerk").get(f"/api/v1/data/{code}/rows?scenario={SCENARIO}")
        assert got.status_code == 200, got.text
        w.ids["audit_seq"] = re.search(r"/api/v1/receipts/(\d+)", got.headers["link"]).group(1)  # type: ignore[union-attr]
        yield w
    finally:
        s.close()
        mp.undo()


# ---- checking one response -------------------------------------------------------------------------------


def _counts(url: str) -> dict[str, int]:
    """The row count of every table (the store's resource tables included), audit excepted."""
    engine = db.get_engine(url)
    names = sorted(set(inspect(engine).get_table_names()) - NOT_TABLES)
    sql = " UNION ALL ".join(f"SELECT '{n}', COUNT(*) FROM \"{n}\"" for n in names)
    with engine.connect() as conn:
        return {str(n): int(k) for n, k in conn.execute(text(sql))}


class Probe:
    """Sends requests to one route and collects what went wrong."""

    def __init__(self, world: World, route: Route) -> None:
        self.world = world
        self.route = route
        self.failures: list[str] = []
        self.writes = route.method in ("POST", "PUT", "PATCH", "DELETE")

    def url(self, **overrides: str) -> str:
        path = self.route.path
        for p in self.route.params:
            path = re.sub(r"{" + p + r"(:[^}]*)?}", overrides.get(p, self.world.ids.get(p, "1")), path)
        return path

    def fail(self, label: str, response: Any, why: str) -> None:
        body = response.text[:300].replace("\n", " ") if response is not None else ""
        status = response.status_code if response is not None else "-"
        self.failures.append(f"  [{label}] {why} (HTTP {status}: {body})")

    def send(
        self,
        label: str,
        client: TestClient,
        *,
        url: str | None = None,
        expect: tuple[int, ...] | None = None,
        junk: bool = False,
        code: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request: never 5xx; `expect` statuses; `junk` input is never accepted; a 4xx is in the
        project's error shape (with `code` if given); a refused write changes no table."""
        before = _counts(self.world.url) if self.writes else None
        try:
            r = client.request(self.route.method, url or self.url(), **kwargs)
        except Exception as exc:
            self.failures.append(f"  [{label}] server error: {type(exc).__name__}: {exc}"[:400])
            return None
        if r.status_code >= 500:
            self.fail(label, r, "server error")
            return r
        if expect is not None and r.status_code not in expect:
            self.fail(label, r, f"expected HTTP {'/'.join(map(str, expect))}")
        if junk and r.status_code < 400:
            self.fail(label, r, "junk input was accepted")
        if 400 <= r.status_code < 500:
            self.check_shape(label, r, code)
            if before is not None:
                after = _counts(self.world.url)
                changed = {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}
                if changed:
                    self.fail(label, r, f"a refused write left rows behind: {changed}")
        return r

    def check_shape(self, label: str, r: Any, code: str | None) -> None:
        try:
            body = r.json()
        except ValueError:
            self.fail(label, r, "a 4xx without a JSON body")
            return
        if self.route.path in CKAN:
            ok = (
                (isinstance(body, str) and body.startswith("Bad request"))
                or (
                    isinstance(body, dict)
                    and body.get("success") is False
                    and isinstance(body.get("error"), dict)
                    and "__type" in body["error"]
                )
                or _project_shape(body)
            )
            if not ok:
                self.fail(label, r, "a 4xx in neither CKAN's envelope nor the project's error shape")
            return
        if not _project_shape(body):
            self.fail(label, r, 'a 4xx not in the project\'s shape {"error": {"code", "message"}}')
            return
        if code is not None and body["error"]["code"] != code:
            self.fail(label, r, f"expected error code {code}, got {body['error']['code']}")

    def report(self) -> None:
        if self.failures:
            lines = "\n".join(self.failures)
            pytest.fail(f"{self.route.id}: {len(self.failures)} failed probe(s)\n{lines}", pytrace=False)


def _project_shape(body: Any) -> bool:
    err = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(err, dict)
        and isinstance(err.get("code"), str)
        and bool(ERROR_CODE.match(err["code"]))
        and isinstance(err.get("message"), str)
        and bool(err["message"])
    )


# ---- request bodies from the OpenAPI schema --------------------------------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return _resolve(options[0]) if options else {}
    return schema


def _sample(schema: dict[str, Any], depth: int = 0) -> Any:
    """A value of the schema's type (not necessarily one the domain accepts)."""
    s = _resolve(schema)
    kind = s.get("type")
    if "enum" in s:
        return s["enum"][0]
    if kind == "object" or "properties" in s:
        props = s.get("properties", {})
        return {k: _sample(v, depth + 1) for k, v in props.items()} if depth < 3 else {}
    if kind == "array":
        return [_sample(s.get("items", {}), depth + 1)] if depth < 3 else []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if s.get("format") == "date":
        return dt.date.today().isoformat()
    if s.get("format") == "date-time":
        return dt.datetime.now(dt.UTC).isoformat()
    return "x"


def _wrong(schema: dict[str, Any]) -> Any:
    """A value of the wrong type for the schema."""
    kind = _resolve(schema).get("type")
    return "not-a-list" if kind in ("array", "object") else {"nested": ["object"]}


def _body_of(route: Route) -> tuple[str | None, dict[str, Any]]:
    content = route.operation.get("requestBody", {}).get("content", {})
    for media in ("application/json", "multipart/form-data", "application/x-www-form-urlencoded"):
        if media in content:
            return media, _resolve(content[media].get("schema", {}))
    return None, {}


# ---- the campaign, one test per route --------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_route_refuses_bad_input_cleanly(world: World, route: Route) -> None:
    probe = Probe(world, route)
    key = (route.method, route.path)
    public = key in PUBLIC
    anonymous = world.client()
    junk_body = {"content": b"{]", "headers": {"content-type": "application/json"}}

    # (a) no credentials
    probe.send("no credentials", anonymous, expect=None if public else (401, 403), json={})
    # (b) bad, expired, revoked tokens: 401 with the precise code, public route or not
    for label, (raw, code) in world.bad_tokens.items():
        bad = world.client(Authorization=f"Bearer {raw}")
        probe.send(f"{label} token", bad, expect=(401,), code=code, json={})
    # an unsafe request on a session cookie without its CSRF token
    if probe.writes and not public:
        cookie = world.client()
        cookie.cookies.set("gs_session", world.session_cookie)
        probe.send("session without CSRF", cookie, expect=(403,), code="auth.csrf_failed", **junk_body)

    actor = world.client(ACTOR.get(key, DEFAULT_ACTOR))
    # (c) odd path parameters, each in turn, with valid credentials
    for param in route.params:
        for label, segment in ODD_SEGMENTS:
            r = probe.send(
                f"{param}={label}",
                actor,
                url=probe.url(**{param: segment}),
                junk=route.method != "GET" and label != "zero",
                code="request.nul_character" if label == "encoded NUL" else None,
                json=_valid_bodies(world.ids).get(key, _sample(_body_of(route)[1]))
                if _body_of(route)[0] == "application/json"
                else None,
            )
            found = r is not None and r.status_code < 400 and label != "zero"
            if found and route.method == "GET" and param not in ("code", "name"):  # an id must exist
                probe.fail(f"{param}={label}", r, "an odd id was answered as found")

    # odd query parameters, each in turn
    declared = [p for p in route.operation.get("parameters", []) if p.get("in") == "query"]
    declared += [{"name": n, "schema": {"type": t}} for n, t in UNDECLARED_QUERY.get(key, [])]
    for param in declared:
        kind = _resolve(param.get("schema", {})).get("type")
        probe.send(f"?{param['name']} with NUL", actor, params={param["name"]: "a\x00b"}, junk=True)
        odd = [("30 kB", "x" * 30_000), ("unicode", "數據😀\u202e")]
        if kind in ("integer", "number"):
            odd += [("huge", "9" * 40), ("overflow", str(2**63)), ("negative", "-1"), ("text", "abc")]
        if kind == "boolean":
            odd += [("text", "maybe")]
        for label, value in odd:
            probe.send(
                f"?{param['name']}={label}",
                actor,
                params={param["name"]: value},
                junk=label not in ("unicode",) and not (label == "30 kB" and kind == "string"),
            )

    # (d) bodies
    if probe.writes:
        media, schema = _body_of(route)
        probe.send("empty body", actor, junk=media is not None, content=b"")
        probe.send("non-JSON body", actor, junk=media is not None, **junk_body)
        probe.send(
            "JSON list instead of object",
            actor,
            junk=media is not None and schema.get("type") != "array",
            json=[{"a": 1}],
        )
        probe.send("1 MB of garbage", actor, junk=media is not None, content=b"\xff\xfe" * (MB // 2))
        if media == "application/json" and schema.get("type") == "array":
            schema = _resolve(schema.get("items", {}))
            wrap = True
        else:
            wrap = False
        props: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        valid = _valid_bodies(world.ids).get(key)
        sample = (valid[0] if wrap else valid) if valid is not None else (_sample(schema) if props else {})

        def body(value: Any) -> Any:
            return [value] if wrap else value

        if media == "application/json" and props:
            for name in required:
                probe.send(
                    f"missing {name}",
                    actor,
                    junk=True,
                    json=body({k: v for k, v in sample.items() if k != name}),
                )
            for name, sub in props.items():
                probe.send(
                    f"{name} of the wrong type", actor, junk=True, json=body({**sample, name: _wrong(sub)})
                )
                if _resolve(sub).get("type") == "integer":
                    for label, number in (("2**63", 2**63), ("2**31", 2**31), ("-1", -1)):
                        probe.send(f"{name}={label}", actor, json=body({**sample, name: number}))
                if _resolve(sub).get("type") == "string" and "format" not in _resolve(sub):
                    probe.send(f"{name} of 1 MB", actor, json=body({**sample, name: "长" * (MB // 3)}))
                    probe.send(
                        f"{name} with NUL",
                        actor,
                        junk=True,
                        code="request.nul_character",
                        json=body({**sample, name: "a\x00b"}),
                    )
        if media == "multipart/form-data":
            files = [k for k, v in props.items() if _resolve(v).get("format") == "binary"]
            fields = {k: str(_sample(v)) for k, v in props.items() if k not in files}
            probe.send(
                "multipart without the file", actor, junk=True, data=fields, files={"other": ("a", b"1")}
            )
            probe.send(
                "broken multipart",
                actor,
                junk=True,
                content=b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
                headers={"content-type": "multipart/form-data; boundary=zz"},
            )
            probe.send(
                "multipart without boundary",
                actor,
                junk=True,
                content=b"abc",
                headers={"content-type": "multipart/form-data"},
            )
            for f in files:
                probe.send(
                    "binary junk as a file",
                    actor,
                    junk=True,
                    data=fields,
                    files={f: ("data.xlsx", io.BytesIO(b"PK\x03\x04" + b"\x00\xff" * 2000))},
                )
                probe.send("empty file", actor, junk=True, data=fields, files={f: ("data.csv", b"")})
                for name in fields:
                    probe.send(
                        f"{name} of 1 MB",
                        actor,
                        junk=True,
                        data={**fields, name: "x" * MB},
                        files={f: ("data.csv", HEADER.encode() + b"\n")},
                    )
    probe.report()


@pytest.mark.parametrize("route", [r for r in ROUTES if (r.method, r.path) not in PUBLIC], ids=lambda r: r.id)
def test_credentials_are_checked_before_the_body(world: World, route: Route) -> None:
    """Default deny: a malformed body (not JSON, a broken multipart) from a caller without credentials is
    401/403, never a 422 or 400 that answers before the credentials are checked."""
    probe = Probe(world, route)
    anonymous = world.client()
    probe.send("no credentials, bad JSON", anonymous, expect=(401, 403), content=b"{]", headers=JSON)
    probe.send(
        "no credentials, broken multipart",
        anonymous,
        expect=(401, 403),
        content=b"abc",
        headers={"content-type": "multipart/form-data"},
    )
    if probe.writes:
        cookie = world.client()
        cookie.cookies.set("gs_session", world.session_cookie)
        probe.send(
            "session, broken multipart, no CSRF",
            cookie,
            expect=(403,),
            code="auth.csrf_failed",
            content=b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        probe.send(
            "session, bad JSON, no CSRF",
            cookie,
            expect=(403,),
            code="auth.csrf_failed",
            content=b"{]",
            headers=JSON,
        )
    probe.report()


JSON = {"content-type": "application/json"}


def _ckan(world: World, query: str, method: str = "GET", **kw: Any) -> Any:
    return world.client().request(method, f"/api/3/action/{query}", **kw)


def test_ckan_actions_refuse_bad_parameters_in_ckans_envelope(world: World) -> None:
    failures = []
    cases = [
        "package_search?rows=abc",
        "package_search?rows=-1",
        "package_search?rows=" + "9" * 40,
        "package_search?start=" + "9" * 40,
        "package_search?start=-5",
        "package_search?q=" + "x" * 30_000,
        "package_search?fq=" + "%E6%95%B0" * 2000,
        "package_show",
        "package_show?id=" + "9" * 40,
        "package_show?id=..%2F..%2Fetc",
        "package_show?id=a%00b",
        "organization_show?id=%E6%95%B0%E6%8D%AE",
        "group_show?id=" + "x" * 5000,
        "no_such_action",
        "a" * 5000,
    ]
    for query in cases:
        r = _ckan(world, query)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        ok = r.status_code < 500 and (
            r.status_code < 400
            or (isinstance(body, str) and body.startswith("Bad request"))
            or (isinstance(body, dict) and body.get("success") is False and "__type" in body.get("error", {}))
            or _project_shape(body)
        )
        if not ok:
            failures.append(f"  GET {query[:80]}: HTTP {r.status_code} {r.text[:200]}")
    for raw in (b"[1, 2]", b'"text"', b"{]", b'{"id": "a\\u0000b"}', b"\xff\xfe"):
        r = _ckan(world, "package_show", "POST", content=raw, headers=JSON)
        if r.status_code >= 500 or r.status_code < 400:
            failures.append(f"  POST package_show {raw!r}: HTTP {r.status_code} {r.text[:200]}")
    assert not failures, "CKAN's API broke on bad parameters:\n" + "\n".join(failures)


# ---- wrong states ----------------------------------------------------------------------------------------


def _state_world(session: Session, tmp_path: Path) -> dict[str, Any]:
    c = sharing_city(session)
    c["code"] = entry(session, c)
    c["clients"] = {}
    for name in ("civil_officer", "civil_clerk", "civil_reviewer", "reviewer", "police_clerk"):
        raw, _ = tokens.issue_token(session, c[name], name="state")
        c["clients"][name] = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    session.commit()
    return c


def _refused(r: Any, statuses: tuple[int, ...], code_prefix: str) -> str | None:
    if r.status_code not in statuses:
        return f"HTTP {r.status_code} (expected {statuses}): {r.text[:300]}"
    body = r.json()
    if not _project_shape(body) or not body["error"]["code"].startswith(code_prefix):
        return f"error not in shape or code not {code_prefix}*: {r.text[:300]}"
    return None


def test_wrong_states_are_refused_with_a_code_and_leave_nothing(
    session: Session, db_clean: str, tmp_path: Path
) -> None:
    c = _state_world(session, tmp_path)
    cl = c["clients"]
    code = c["code"]
    failures: dict[str, str | None] = {}

    # a published entry submitted for review again
    before = _counts(db_clean)
    r = cl["civil_officer"].post(f"/api/v1/catalog/{code}/submit")
    failures["submit a published entry"] = _refused(r, (409, 422), "")
    failures["... leaves nothing"] = None if _counts(db_clean) == before else "rows changed"

    # an application decided twice, and decided by someone not its assignee
    case = ask(session, c, code)
    session.commit()
    cid = case.id
    first = cl["civil_reviewer"].post(f"/api/v1/cases/{cid}/decisions", json={"decision": "approve"})
    assert first.status_code < 400, first.text
    state = cl["civil_reviewer"].get(f"/api/v1/cases/{cid}").json()
    before = _counts(db_clean)
    again = cl["civil_reviewer"].post(f"/api/v1/cases/{cid}/decisions", json={"decision": "approve"})
    if state["status"] != "open" or not state["decisions"]:
        failures["approve twice"] = _refused(again, (403, 409, 422), "")
    failures["unknown decision"] = _refused(
        cl["reviewer"].post(f"/api/v1/cases/{cid}/decisions", json={"decision": "maybe", "reasons": "x"}),
        (403, 409, 422),
        "",
    )
    failures["escalate an open case"] = _refused(
        cl["police_clerk"].post(f"/api/v1/cases/{cid}/escalations", json={"reasons": "不服"}),
        (403, 409, 422),
        "",
    )
    failures["... leave nothing"] = None if _counts(db_clean) == before else "rows changed"

    # a grant revoked twice
    grant = create_grant(
        session,
        c["reviewer"],
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=["id_number"],
        scenario=SCENARIO,
        delivery_method="api",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    session.commit()
    ok = cl["reviewer"].post(f"/api/v1/sharing/grants/{grant.id}/revoke", json={"reason": "停止"})
    assert ok.status_code == 200, ok.text
    before = _counts(db_clean)
    twice = cl["reviewer"].post(f"/api/v1/sharing/grants/{grant.id}/revoke", json={"reason": "再次"})
    failures["revoke a grant twice"] = _refused(twice, (409, 422), "")
    failures["... leaves nothing"] = None if _counts(db_clean) == before else "rows changed"

    # an interface confirmed twice, and confirmed before it is registered
    failures["confirm an unregistered interface"] = _refused(
        cl["reviewer"].post(f"/api/v1/data/{code}/interface/confirm"), (404, 409, 422), ""
    )
    put = cl["civil_clerk"].put(
        f"/api/v1/data/{code}/interface",
        json={"base_url": "https://api.civil.example.gov.cn", "legal_basis": "x"},
    )
    if put.status_code == 200:
        assert cl["reviewer"].post(f"/api/v1/data/{code}/interface/confirm").status_code == 200
        failures["confirm twice"] = _refused(
            cl["reviewer"].post(f"/api/v1/data/{code}/interface/confirm"), (409,), "interface."
        )
    bad = {k: v for k, v in failures.items() if v}
    assert not bad, "wrong states:\n" + "\n".join(f"  {k}: {v}" for k, v in bad.items())


def test_wrong_files_are_refused_precisely_and_store_nothing(
    session: Session, db_clean: str, tmp_path: Path
) -> None:
    """R7: a file in another encoding than declared, an unknown encoding, a header that does not match, a
    binary that is no spreadsheet: a 422 with a precise code, and no batch, record or quarantine row."""
    c = _state_world(session, tmp_path)
    clerk = c["clients"]["civil_clerk"]
    url = f"/api/v1/data/{c['code']}/batches"
    row = f"{IDS[0]},张三,2024-01-02,1,2.5,是\n"
    files = {
        "GBK declared UTF-8": ("m.csv", (HEADER + "\n" + row).encode("gbk"), {"encoding": "utf-8"}),
        "unknown encoding": ("m.csv", (HEADER + "\n" + row).encode(), {"encoding": "klingon-8"}),
        "header mismatch": ("m.csv", (b"a,b,c\n1,2,3\n"), {}),
        "xlsx that is not": ("m.xlsx", b"PK\x03\x04" + b"\x00" * 500, {}),
        "parquet that is not": ("m.parquet", b"PAR1" + b"\x01" * 100, {}),
        "unknown extension": ("m.exe", b"MZ\x90\x00", {}),
    }
    failures = []
    for label, (name, content, data) in files.items():
        before = _counts(db_clean)
        r = clerk.post(url, files={"file": (name, content)}, data=data)
        after = _counts(db_clean)
        problem = _refused(r, (413, 415, 422), "")
        if problem:
            failures.append(f"  {label}: {problem}")
        if before != after:
            changed = {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}
            failures.append(f"  {label}: the refused file left rows behind: {changed}")
    assert not failures, "wrong files:\n" + "\n".join(failures)


def test_invalid_id_numbers_in_a_push_are_quarantined_not_dropped(
    session: Session, db_clean: str, tmp_path: Path
) -> None:
    """R7 R13: a record whose resident ID number fails GB 11643 (bad check digit, bad date, wrong length)
    is refused into quarantine with its rule — counted, never silently dropped."""
    c = _state_world(session, tmp_path)
    clerk = c["clients"]["civil_clerk"]
    good = IDS[1]
    bad_ids = [good[:-1] + ("0" if good[-1] != "0" else "1"), "110101199002300011", "12345", "１１０１０１"]
    records = [
        {
            "id_number": good,
            "full_name": "甲",
            "registered_on": "2024-01-02",
            "children": 1,
            "allowance": 1,
            "active": True,
        }
    ]
    records += [{**records[0], "id_number": b} for b in bad_ids]
    r = clerk.post(
        f"/api/v1/data/{c['code']}/push", json={"records": records}, headers={"Idempotency-Key": "ids-1"}
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["accepted"] == 1 and report["refused"] == len(bad_ids), report
    q = clerk.get(f"/api/v1/data/batches/{report['id']}/quarantine").json()
    assert q["total"] == len(bad_ids) and all(row["rule"] for row in q["rows"]), q


def test_r13_a_nul_character_in_an_uploaded_cell_is_quarantined_not_a_server_error(
    session: Session, db_clean: str, tmp_path: Path
) -> None:
    """No database stores U+0000 in text: the row is refused with rule `character`, its value kept in the
    quarantine with the character written as an escape, on both backends alike."""
    c = _state_world(session, tmp_path)
    app = TestClient(create_app(), raise_server_exceptions=False, headers=c["clients"]["civil_clerk"].headers)
    text_ = HEADER + "\n" + f"{IDS[0]},张\x00三,2024-01-02,1,2.5,是\n"
    before = _counts(db_clean)
    r = app.post(f"/api/v1/data/{c['code']}/batches", files={"file": ("m.csv", text_.encode())})
    after = _counts(db_clean)
    changed = {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}
    assert r.status_code < 500, f"HTTP {r.status_code}; rows changed: {changed}"
    # R7: a full load without one accepted row stores nothing: a 422 carrying the batch's report.
    assert (r.status_code, r.json()["error"]["code"]) == (422, "ingest.nothing_accepted"), r.text
    report = r.json()["error"]["details"]["batch"]
    assert (report["accepted"], report["refused"]) == (0, 1), report
    q = app.get(f"/api/v1/data/batches/{report['id']}/quarantine").json()
    assert [(row["rule"], row["value"]) for row in q["rows"]] == [("character", "张\\u0000三")], q
