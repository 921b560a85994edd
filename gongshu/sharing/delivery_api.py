"""R19 (method 1, service interfaces), R16 R17 R26: the row API. Every call: actor → the access decision
point (method "api", the stated scenario, the items asked for and the items filtered or sorted on) → the
safe query engine with the allowed items and the grant's row filter → the read audited with the keys of
the records returned → a sealed receipt over the canonical request and the exact response bytes.

GET /api/v1/data/{code}/rows?scenario=…&items=a,b&filter[item]=v&filter[item][in]=a,b
    &filter[item][gte]=…&filter[item][lte]=…&filter[item][contains]=…&sort=item,-item2&after=CURSOR
    &limit=N&total=true&format=json|csv
GET /api/v1/receipts/{audit_seq}: the receipt of a delivery again (to its consumer only).

The JSON body is `{"grant", "basis", "scenario", "items", "rows", "next", "total", "receipt"}`; the
receipt's `response_sm3` is the SM3 digest of the body's bytes up to the receipt, that is the body with
its final `,"receipt":{…}` member removed (see `data_part`). A CSV body is digested whole and its receipt
travels in the `X-Gongshu-Receipt` header (base64 of the receipt's JSON).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import ResourceView, resource_view
from gongshu.kernel.access.service import MESSAGES, AccessDenied, DataDecision, enforce_data
from gongshu.kernel.audit.models import AuditEntry, AuditReceipt
from gongshu.kernel.audit.service import EntrySpec, subject_hashes
from gongshu.kernel.audit.writer import audit_writer
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import canonical_json
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.sharing.reads import read_entry_spec, subject_keys_of
from gongshu.sharing.receipts import digest, receipt_document
from gongshu.store.query import DEFAULT_LIMIT, MAX_LIMIT, Filter, QueryResult, json_value, query
from gongshu.web.deps import SeqPath, current_actor

router = APIRouter(tags=["sharing"])
FILTER_KEY = re.compile(r"^filter\[([A-Za-z_][A-Za-z0-9_]*)\](?:\[([a-z]+)\])?$")
KNOWN = frozenset({"scenario", "items", "sort", "after", "limit", "total", "format", "lang"})
RECEIPT_MARK = b',"receipt":'


@dataclass
class RowsRequest:
    """A row API request, parsed and checked before anything is read."""

    scenario: str | None
    items: list[str]
    filters: list[Filter] = field(default_factory=list)
    sort: list[tuple[str, str]] = field(default_factory=list)
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    total: bool = False
    fmt: str = "json"
    canonical: str = ""


def _bad(code: str, zh: str, en: str, fld: str) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=fld)


def _names(text: str, fld: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if not re.fullmatch(("-?" if fld == "sort" else "") + r"[A-Za-z_][A-Za-z0-9_]*", n):
            raise _bad("delivery.param_invalid", f"参数 {fld} 含无效名称 {n}", f"Bad name {n} in {fld}", fld)
    return names


def parse_request(path: str, pairs: list[tuple[str, str]]) -> RowsRequest:
    """R19: parse and validate the query string (422 with the parameter at fault)."""
    single: dict[str, str] = {}
    filters: list[Filter] = []
    for key, value in pairs:
        m = FILTER_KEY.match(key)
        if m:
            op = m.group(2) or "eq"
            values = tuple(v for v in value.split(",")) if op == "in" else (value,)
            filters.append(Filter(m.group(1), op, values))
            continue
        if key not in KNOWN:
            raise _bad("delivery.param_unknown", f"未知的参数 {key}", f"Unknown parameter {key}", key)
        if key in single:
            raise _bad("delivery.param_repeated", f"参数 {key} 重复", f"Parameter {key} is repeated", key)
        single[key] = value
    try:
        limit = int(single.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad(
            "query.limit", f"每页条数应为1至{MAX_LIMIT}", f"A page holds 1 to {MAX_LIMIT} rows", "limit"
        )
    fmt = single.get("format", "json")
    if fmt not in ("json", "csv"):
        raise _bad("delivery.format_invalid", "格式应为 json 或 csv", "The format is json or csv", "format")
    total = single.get("total", "false").lower()
    if total not in ("true", "false", "1", "0"):
        raise _bad("delivery.total_invalid", "total 应为 true 或 false", "total is true or false", "total")
    sort = [
        (n.lstrip("-"), "desc" if n.startswith("-") else "asc")
        for n in _names(single.get("sort", ""), "sort")
    ]
    canonical = path + "?" + urlencode(sorted(p for p in pairs if p[0] != "lang"))
    return RowsRequest(
        scenario=single.get("scenario") or None,
        items=list(dict.fromkeys(_names(single.get("items", ""), "items"))),
        filters=filters,
        sort=sort,
        after=single.get("after") or None,
        limit=limit,
        total=total in ("true", "1"),
        fmt=fmt,
        canonical=canonical,
    )


def _refuse_items(actor: Actor, code: str, req: RowsRequest, path: str, refused: list[str]) -> AccessDenied:
    zh, en = MESSAGES["access.items_not_granted"]
    return AccessDenied(
        "access.items_not_granted",
        zh,
        en,
        actor=actor,
        resource_id=code,
        scenario=req.scenario,
        detail={"reason": "access.items_not_granted", "method": "api", "path": path, "items": refused},
    )


def decide_rows(
    session: Session, actor: Actor, code: str, req: RowsRequest, path: str, view: ResourceView | None = None
) -> DataDecision:
    """R16 R17 R26: the decision covers the items delivered and every item filtered or sorted on (a
    condition on an item outside the grant would leak it)."""
    resource = (view or resource_view(session, code)).resource
    used = list(dict.fromkeys([f.item for f in req.filters] + [s for s, _ in req.sort]))
    wanted = list(dict.fromkeys(req.items + used)) if req.items else None
    decision = enforce_data(
        session, actor, resource, scenario=req.scenario, items=wanted, method="api", path=path
    )
    refused = [u for u in used if u not in decision.items]
    if refused:
        raise _refuse_items(actor, code, req, path, refused)
    return decision


def _csv_bytes(items: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(items)
    for r in rows:
        writer.writerow(["" if r[i] is None else json_value(r[i]) for i in items])
    return out.getvalue().encode()


def data_part(body: bytes, receipt: dict[str, Any]) -> bytes | None:
    """The bytes a JSON body's receipt digests: the body without its final `,"receipt":{…}` member;
    None when the body does not end with exactly that receipt."""
    tail = RECEIPT_MARK + canonical_json(receipt) + b"}"
    return body[: -len(tail)] + b"}" if body.endswith(tail) else None


_made: set[Path] = set()


def receipts_dir() -> Path:
    """The folder of the sealed receipts, one file per delivery (named by its audit entry)."""
    path = get_settings().data_dir / "receipts"
    if path not in _made:
        path.mkdir(parents=True, exist_ok=True)
        _made.add(path)
    return path


@dataclass
class Prepared:
    """A row API request decided and queried, waiting for its audit entry to be committed."""

    actor: Actor
    code: str
    req: RowsRequest
    path: str
    view: ResourceView
    decision: DataDecision
    items: list[str]
    result: QueryResult


def prepare(actor: Actor, code: str, req: RowsRequest, path: str) -> Prepared:
    """R19 R16 R17: decide and query, in a read-only transaction (readers never queue)."""
    with read_scope() as session:
        view = resource_view(session, code)
        decision = decide_rows(session, actor, code, req, path, view)
        items = req.items or list(decision.items)
        result: QueryResult = query(
            session,
            code,
            items=items,
            filters=req.filters,
            row_filter=decision.row_filter,
            sort=req.sort,
            after=req.after,
            limit=req.limit,
            count_total=req.total,
            allowed=decision.items,
            subjects=True,
        )
    return Prepared(actor, code, req, path, view, decision, items, result)


def audit_entry(p: Prepared) -> EntrySpec:
    """R26: the audit entry of the read (for the audit writer): who, the grant and scenario, the hashed
    keys of the records returned, and the request by its digest (filter values may be ID numbers). Made
    here, outside the writer's transaction: the writer appends a batch of them with one insert. A resource
    without ID-number or USCC items (keyed by a declared key, or by row hash) has no subject keys: the query
    reads no extra item and `extra` is empty, not one empty dict per row."""
    rows, extra = p.result.rows, p.result.extra
    seen = [{**r, **x} for r, x in zip(rows, extra, strict=True)] if extra else rows
    hashed = subject_hashes(subject_keys_of(seen, p.view.subject_key_items))
    shape = {"request_sm3": digest(p.req.canonical), "filters": [[f.item, f.op] for f in p.req.filters]}
    return read_entry_spec(
        p.actor,
        p.code,
        p.decision,
        len(seen),
        method="api",
        path=p.path,
        detail=shape,
        hashed_subjects=hashed,
    )


def body_of(p: Prepared) -> bytes:
    """R19: the delivered bytes of a read — the JSON document up to its receipt, or the CSV — which its
    receipt digests; the response names its grant (or its basis)."""
    req, decision, result, items = p.req, p.decision, p.result, p.items
    if req.fmt == "csv":
        return _csv_bytes(items, result.rows)
    doc = {
        "grant": decision.grant_id,
        "basis": decision.basis,
        "scenario": decision.scenario,
        "items": items,
        "rows": result.rows,
        "next": result.next_cursor,
        "total": result.total,
    }
    # Dates and decimals as `json_value` writes them, by the encoder's hook (called for those values only)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=json_value).encode()


def receipt_of(p: Prepared, data: bytes) -> Callable[[int], dict[str, Any]]:
    """R19 R26: the receipt document of the delivery of `data`, given the seq of its audit entry (the
    audit writer seals it with the others of its batch and stores it with the entry)."""
    document = receipt_document(
        p.actor,
        resource_code=p.code,
        method="api",
        request=p.req.canonical,
        response=data,
        grant_id=p.decision.grant_id,
        scenario=p.decision.scenario,
        basis=p.decision.basis,
        records=len(p.result.rows),
    )
    return lambda seq: {**document, "audit_seq": seq}


def respond(p: Prepared, data: bytes, seq: int, receipt: dict[str, Any]) -> Response:
    """R19 R26: the response of a read whose audit entry `seq` and sealed receipt are committed: the body
    with its receipt (JSON) or the receipt in a header (CSV), and the headers naming grant and basis."""
    req, decision, result = p.req, p.decision, p.result
    sealed = canonical_json(receipt)
    headers = {
        "Link": f'</api/v1/receipts/{seq}>; rel="receipt"',
        "X-Gongshu-Basis": decision.basis,
        "X-Gongshu-Grant": "" if decision.grant_id is None else str(decision.grant_id),
        "Cache-Control": "no-store",
    }
    if req.fmt == "csv":
        headers["X-Gongshu-Receipt"] = base64.b64encode(sealed).decode()
        if result.next_cursor:
            headers["X-Gongshu-Next"] = result.next_cursor
        if result.total is not None:
            headers["X-Gongshu-Total"] = str(result.total)
        return Response(data, media_type="text/csv; charset=utf-8", headers=headers)
    body = data[:-1] + RECEIPT_MARK + sealed + b"}"
    return Response(body, media_type="application/json", headers=headers)


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    """The threads of this event loop that work on row API requests at once (`row_api_threads`)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(max(1, get_settings().row_api_threads))
    return limiter


def _inline() -> bool:
    """SQLite reads run on the event loop: they are in-process and short, and a hand-over to a thread and
    back (with the interpreter lock passed each way) cost more than the read itself (R19 throughput)."""
    return get_settings().resolved_database_url().startswith("sqlite")


async def answer_rows(actor: Actor, code: str, path: str, pairs: list[tuple[str, str]]) -> Response:
    """R19 R16 R17 R26: parse, decide and query, wait for the read's audit entry to be committed (without
    holding a thread: many requests' entries are committed together), then seal the receipt. Shared by the
    routed endpoint below and the token fast path (`gongshu.web.app.RowApiFastPath`)."""
    req = parse_request(path, pairs)
    if _inline():
        p = prepare(actor, code, req, path)
    else:  # PostgreSQL: the reads wait on the network; the row API's few threads do them
        p = await anyio.to_thread.run_sync(prepare, actor, code, req, path, limiter=_limiter())
    data = body_of(p)
    writing = audit_writer().submit_receipted(audit_entry(p), receipt_of(p, data))
    seq, receipt = await asyncio.wrap_future(writing)
    return respond(p, data, seq, receipt)


@router.get("/api/v1/data/{code}/rows")
async def rows(request: Request, code: str) -> Response:
    """R19 R16 R17 R26: a page of the rows of resource `code` that the caller may have, for the stated
    scenario, with the read audited and a sealed receipt. Refusals: 403 with the access code. Requests
    with an API token reach `answer_rows` through `RowApiFastPath` before the router; browser sessions
    and anonymous callers come here."""
    actor = current_actor(request)
    return await answer_rows(actor, code, request.url.path, list(request.query_params.multi_items()))


@router.get("/api/v1/receipts/{audit_seq}")
def receipt(request: Request, audit_seq: SeqPath) -> Response:
    """R19 R26: the sealed receipt of delivery `audit_seq`, to the consumer that received it (kept under
    its audit entry; receipts of before that, as files in the data folder)."""
    actor = current_actor(request)
    missing = NotFound("receipt.not_found", f"没有编号为 {audit_seq} 的交付回执", f"No receipt {audit_seq}")
    with read_scope() as session:
        kept = session.get(AuditReceipt, audit_seq)
        if kept is not None:
            sealed = kept.sealed.encode()
        else:
            path = receipts_dir() / f"{audit_seq}.json"
            if not path.is_file():
                raise missing
            sealed = path.read_bytes()
        doc = json.loads(sealed).get("document", {})
        entry = session.get(AuditEntry, audit_seq)
        if (
            entry is None
            or entry.action != "data.read"
            or entry.outcome != "ok"
            or entry.object_id != doc.get("resource")
            or doc.get("audit_seq") != audit_seq
        ):
            raise missing
        if entry.actor_label != actor.username or entry.actor_org_id != actor.org_id:
            raise missing  # another consumer's receipt: not even its existence is told
    return Response(sealed, media_type="application/json")
