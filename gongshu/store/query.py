"""R19 R26: the safe query engine of the data store — the one way a delivery reads a resource's rows.

The caller has asked the access decision point first and passes what it allowed: the items (projection,
and the only items that may be filtered or sorted on — a condition on any other item would leak it) and
the grant's row filter. Filters: equals, in, range (gte/lte/gt/lt), contains (LIKE, with its wildcards
escaped). Values are parsed per the item's data type and bound as typed parameters; every statement is a
SQLAlchemy expression (no SQL text). Pages are keyset pages on (sort items…, key) with an opaque cursor
that is signed (a changed cursor is refused) and encrypted when it carries a value the caller may not see.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, false, func, or_, select, true
from sqlalchemy.orm import Session

from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import hmac_sm3_hex
from gongshu.kernel.crypto.sm4 import decrypt_secret, encrypt_secret
from gongshu.kernel.db import core_connection
from gongshu.kernel.errors import Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.timeutil import CHINA
from gongshu.store import tables
from gongshu.store.service import resource_shape

MAX_LIMIT = 1000  # a page size limit of the platform, not a statutory number
DEFAULT_LIMIT = 100
OPERATORS = ("eq", "in", "gte", "lte", "gt", "lt", "contains")
RANGE = {"gte": "__ge__", "lte": "__le__", "gt": "__gt__", "lt": "__lt__"}
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t", "是"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", "否"})
MAX_IN = 500
SUBJECT_TYPES = ("id_number", "uscc")  # R26: the items whose values the data tracker records (hashed)


@dataclass(frozen=True)
class Filter:
    """One condition on one item: `op` is eq, in, gte, lte, gt, lt or contains; `values` as received."""

    item: str
    op: str
    values: tuple[Any, ...]


@dataclass
class QueryResult:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None
    key_item: str = ""
    types: dict[str, str] = field(default_factory=dict)
    extra: list[dict[str, Any]] = field(default_factory=list)  # for the audit log only, never delivered


def _invalid(code: str, zh: str, en: str, fld: str | None = None) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=fld)


def parse_value(item: dict[str, Any], raw: Any) -> Any:
    """R19: a value received as text (or JSON) typed per the item's data type; a precise 422 otherwise."""
    name, kind = str(item["name"]), str(item.get("data_type") or "string")
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        if kind == "integer":
            if isinstance(raw, bool):
                raise ValueError(text)
            return int(text)
        if kind == "decimal":
            value = decimal.Decimal(text)
            if not value.is_finite():
                raise ValueError(text)
            return value
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "datetime":
            moment = dt.datetime.fromisoformat(text)
            return moment.astimezone(CHINA).replace(tzinfo=None) if moment.tzinfo else moment
        if kind == "boolean":
            if text.lower() in TRUE_WORDS:
                return True
            if text.lower() in FALSE_WORDS:
                return False
            raise ValueError(text)
    except (ValueError, decimal.InvalidOperation) as exc:
        raise _invalid(
            "query.value_invalid",
            f"信息项 {name} 的取值 {text[:40]} 不是有效的 {kind} 类型值",
            f"{text[:40]!r} is not a valid {kind} value for item {name}",
            name,
        ) from exc
    return text if kind in ("id_number", "uscc") and text else str(raw)


def json_value(value: Any) -> Any:
    """A typed value as JSON (dates ISO 8601, decimals as exact strings)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


@lru_cache(maxsize=256)
def _table(table_name: str, items_json: str, key: str) -> Table:
    return tables.data_table(table_name, json.loads(items_json), key)


# ---- cursor --------------------------------------------------------------------------------------------


_secrets: dict[tuple[str, str], bytes] = {}


def _secret() -> bytes:
    """The platform's secret key (read once per installation: it is made once and never changes)."""
    settings = get_settings()
    at = (settings.secret_key, str(settings.data_dir))
    if at not in _secrets:
        _secrets[at] = settings.resolved_secret_key().encode()
    return _secrets[at]


def _mac(text: str) -> str:
    return hmac_sm3_hex(_secret(), text.encode())[:32]


def encode_cursor(shape: str, values: list[Any], *, hidden: bool) -> str:
    """The cursor after a page: the sort values and key of its last row, bound to the query's shape.
    Signed; encrypted (SM4) when it carries a value the caller may not see (the key is not granted)."""
    payload = json.dumps({"q": shape, "v": [json_value(v) for v in values]}, separators=(",", ":"))
    if hidden:
        return "e." + encrypt_secret(payload)[len("sm4:1:") :]
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"p.{body}.{_mac(body)}"


def _cursor_refused() -> ValidationFailed:
    return _invalid(
        "query.cursor_invalid",
        "翻页游标无效或已被改动，请从第一页重新查询",
        "The page cursor is invalid or was altered; start again from the first page",
        "after",
    )


def decode_cursor(cursor: str, shape: str) -> list[Any]:
    """The values of a cursor made by `encode_cursor` for the same query; a precise 422 otherwise."""
    try:
        if cursor.startswith("e."):
            payload = decrypt_secret("sm4:1:" + cursor[2:])
        elif cursor.startswith("p.") and cursor.count(".") == 2:
            _, body, tag = cursor.split(".")
            if not hmac.compare_digest(tag, _mac(body)):
                raise _cursor_refused()
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        else:
            raise _cursor_refused()
        data = json.loads(payload)
    except (GongshuError, binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _cursor_refused() from exc
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise _cursor_refused()
    if data.get("q") != shape:
        raise _invalid(
            "query.cursor_mismatch",
            "翻页游标属于另一个查询（筛选或排序条件已改变），请从第一页重新查询",
            "The page cursor belongs to another query (filters or sort changed); start from the first page",
            "after",
        )
    return list(data["v"])


# ---- conditions ----------------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Binder:
    """Collects a query's values as named parameters, in the order the conditions are walked, and the
    query's shape (every structural choice: operators, NULLs, empty lists). With `build`, also makes the
    SQLAlchemy conditions over bound parameters — done once per shape: a statement kept in `_plans` is
    executed again with new values, sparing its construction and compilation on every call (R19)."""

    def __init__(self, table: Table | None) -> None:
        self.table = table
        self.values: dict[str, Any] = {}
        self.shape: list[Any] = []

    def bind(self, value: Any, column: str, *, expanding: bool = False) -> Any:
        name = f"p{len(self.values)}"
        self.values[name] = value
        if self.table is None:
            return None
        return bindparam(name, type_=self.table.c[column].type, expanding=expanding)


def _condition(binder: _Binder, item: dict[str, Any], flt: Filter) -> ColumnElement[bool] | None:
    if flt.op not in OPERATORS:
        raise _invalid(
            "query.operator_invalid",
            f"不支持的筛选方式 {flt.op}（可用：{'、'.join(OPERATORS)}）",
            f"Unknown filter operator {flt.op} (use one of {', '.join(OPERATORS)})",
            flt.item,
        )
    if not flt.values or (flt.op != "in" and len(flt.values) != 1) or len(flt.values) > MAX_IN:
        raise _invalid(
            "query.filter_values",
            f"信息项 {flt.item} 的筛选值个数不对（in 最多 {MAX_IN} 个，其余 1 个）",
            f"Wrong number of values for the filter on {flt.item} (in: up to {MAX_IN}, others: 1)",
            flt.item,
        )
    col = binder.table.c[flt.item] if binder.table is not None else None
    if flt.op == "contains":
        binder.shape.append((flt.item, "contains"))
        pattern = binder.bind(f"%{_escape_like(str(flt.values[0]))}%", flt.item)
        return None if col is None else col.like(pattern, escape="\\")
    values = [parse_value(item, v) for v in flt.values]
    if flt.op == "eq" and values[0] is None:
        binder.shape.append((flt.item, "null"))
        return None if col is None else col.is_(None)
    binder.shape.append((flt.item, flt.op))
    if flt.op == "in":
        bound = binder.bind(values, flt.item, expanding=True)
        return None if col is None else col.in_(bound)
    bound = binder.bind(values[0], flt.item)
    if col is None:
        return None
    if flt.op == "eq":
        equal: ColumnElement[bool] = col == bound
        return equal
    compared: ColumnElement[bool] = getattr(col, RANGE[flt.op])(bound)
    return compared


def _row_filter(binder: _Binder, by_name: dict[str, dict[str, Any]], rf: dict[str, list[Any]]) -> list[Any]:
    """R17 R26: the grant's row filter — item → allowed values (fail closed on an unknown item)."""
    out: list[Any] = []
    for name, allowed in rf.items():
        if name not in by_name or not isinstance(allowed, list):
            raise Forbidden(
                "query.row_filter_invalid",
                f"授权的行范围引用了不存在的信息项 {name}，拒绝交付",
                f"The grant's row filter names an unknown item {name}; nothing is delivered",
            )
        values = [parse_value(by_name[name], v) for v in allowed]
        binder.shape.append(("rows", name, bool(values)))
        if values:
            bound = binder.bind(values, name, expanding=True)
            out.append(None if binder.table is None else binder.table.c[name].in_(bound))
        else:
            out.append(false())
    return out


def _after(binder: _Binder, order: list[tuple[str, str]], last: list[Any]) -> ColumnElement[bool] | None:
    """Rows strictly after `last` in the order (items, directions), NULL being the smallest value."""
    binder.shape.append(("after", tuple(v is None for v in last)))
    bound = [None if v is None else binder.bind(v, s) for (s, _), v in zip(order, last, strict=True)]
    if binder.table is None:
        return None
    cols = [binder.table.c[s] for s, _ in order]
    terms: list[ColumnElement[bool]] = []
    for i, ((_, direction), col, value) in enumerate(zip(order, cols, bound, strict=True)):
        ties = [c.is_(None) if v is None else c == v for c, v in zip(cols[:i], bound[:i], strict=True)]
        if direction == "asc":
            step = col.is_not(None) if value is None else col > value
        else:
            step = false() if value is None else or_(col < value, col.is_(None))
        terms.append(and_(*ties, step))
    return or_(*terms) if terms else true()


def _shape(code: str, filters: Sequence[Filter], rf: dict[str, list[Any]], sort: list[Any]) -> str:
    text = json.dumps(
        [code, [[f.item, f.op, [str(v) for v in f.values]] for f in filters], rf, sort],
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return _mac(text)[:16]


def _check_items(names: Sequence[str], allowed: set[str], what: str) -> None:
    refused = sorted(set(names) - allowed)
    if refused:
        raise Forbidden(
            "query.item_not_granted",
            f"不能{what}未获授权的信息项：{'、'.join(refused)}",
            f"Items outside the grant cannot be {'filtered' if what == '筛选' else 'used'}: "
            + ", ".join(refused),
            details={"items": refused},
        )


@dataclass(frozen=True)
class _Plan:
    """A page statement (and its count statement) over bound parameters, for one query shape."""

    page: Any
    count: Any
    count_params: int  # the page's first parameters, which the count's conditions use


_plans: dict[tuple[Any, ...], _Plan] = {}
_PLANS_MAX = 1024


def _parsed_items(items_json: str) -> dict[str, dict[str, Any]]:
    return {str(i["name"]): i for i in json.loads(items_json)}


_items_cache: dict[str, dict[str, dict[str, Any]]] = {}


def query(
    session: Session,
    code: str,
    *,
    items: Sequence[str],
    filters: Sequence[Filter] = (),
    row_filter: dict[str, list[Any]] | None = None,
    sort: Sequence[tuple[str, str]] = (),
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
    count_total: bool = False,
    allowed: Sequence[str] | None = None,
    extra: Sequence[str] = (),
    subjects: bool = False,
) -> QueryResult:
    """R19 R26: a page of the resource's rows, projected on `items`, filtered (only on `allowed` items,
    default `items`), restricted by the grant's `row_filter`, in keyset order (sort…, key). `extra`
    items are read for the audit log only (R26: the subject keys of the records returned), never
    delivered; `subjects` adds the items that identify a person or a company (ID number, USCC).
    Values are always bound parameters; the statement of each query shape is made once and kept."""
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid(
            "query.limit", f"每页条数应为1至{MAX_LIMIT}", f"A page holds 1 to {MAX_LIMIT} rows", "limit"
        )
    res = resource_shape(session, code)
    by_name = _items_cache.get(res.items_json)
    if by_name is None:
        if len(_items_cache) >= _PLANS_MAX:
            _items_cache.clear()
        by_name = _items_cache[res.items_json] = _parsed_items(res.items_json)
    if subjects:
        extra = [*extra, *(n for n, i in by_name.items() if i.get("data_type") in SUBJECT_TYPES)]
    permitted = set(allowed if allowed is not None else items)
    _check_items(list(items), permitted & set(by_name), "读取")
    _check_items([f.item for f in filters], permitted & set(by_name), "筛选")
    _check_items([s for s, _ in sort], permitted & set(by_name), "排序")
    for _, direction in sort:
        if direction not in ("asc", "desc"):
            raise _invalid("query.sort_invalid", "排序方向应为 asc 或 desc", "Sort is asc or desc", "sort")
    rf = dict(row_filter or {})
    order = [(s, d) for s, d in sort if s != res.key_item]
    key_dir = next((d for s, d in sort if s == res.key_item), "asc")
    order.append((res.key_item, key_dir))
    shape = _shape(code, filters, rf, order)
    last: list[Any] | None = None
    if after:
        raw = decode_cursor(after, shape)
        if len(raw) != len(order):
            raise _cursor_refused()
        key_spec = by_name.get(res.key_item, {"name": res.key_item, "data_type": "string"})
        last = [parse_value(by_name.get(s, key_spec), v) for (s, _), v in zip(order, raw, strict=True)]
    names = list(dict.fromkeys([*items, *(s for s, _ in order), *(e for e in extra if e in by_name)]))

    def walk(binder: _Binder) -> tuple[list[Any], list[Any], int]:
        where = [_condition(binder, by_name[f.item], f) for f in filters] + _row_filter(binder, by_name, rf)
        n_where = len(binder.values)  # the count statement's parameters: the filters' and the grant's
        page_where = list(where)
        if last is not None:
            page_where.append(_after(binder, order, last))
        return where, page_where, n_where

    binder = _Binder(None)
    walk(binder)
    key = (res.table_name, res.items_json, tuple(binder.shape), tuple(order), tuple(names), limit)
    plan = _plans.get(key)
    if plan is None:
        table = _table(res.table_name, res.items_json, res.key_item)
        builder = _Binder(table)
        where, page_where, n_where = walk(builder)
        cols = [table.c[s] for s, _ in order]
        ordering = [
            c.asc().nulls_first() if d == "asc" else c.desc().nulls_last()
            for c, (_, d) in zip(cols, order, strict=True)
        ]
        ordering[-1] = cols[-1].asc() if key_dir == "asc" else cols[-1].desc()  # the key is never NULL
        page = select(*(table.c[n] for n in names)).where(*page_where).order_by(*ordering).limit(limit + 1)
        count = select(func.count()).select_from(table).where(*where)
        plan = _Plan(page, count, n_where)
        if len(_plans) >= _PLANS_MAX:
            _plans.clear()
        _plans[key] = plan
    conn = core_connection(session)
    result = conn.execute(plan.page, binder.values)
    fetched = [dict(zip(names, r, strict=True)) for r in result.all()]
    more = len(fetched) > limit
    fetched = fetched[:limit]
    next_cursor = None
    if more and fetched:
        hidden = res.key_item not in permitted
        next_cursor = encode_cursor(shape, [fetched[-1][s] for s, _ in order], hidden=hidden)
    total = None
    if count_total:
        params = dict(list(binder.values.items())[: plan.count_params])
        total = int(conn.execute(plan.count, params).scalar() or 0)
    out = [{n: r[n] for n in items} for r in fetched]
    types = {n: str(by_name[n].get("data_type") or "string") for n in items}
    extras = [{e: r[e] for e in extra if e in r} for r in fetched] if extra else []
    return QueryResult(out, next_cursor, total, res.key_item, types, extras)
