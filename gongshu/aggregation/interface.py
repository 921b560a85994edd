"""R7: the service-interface proxy. Data that law forbids aggregating is not copied into the platform: the
department registers its own HTTP API for the catalog entry, the authority confirms (recorded, with the
legal basis), and only then does the platform serve the entry by forwarding each call — after the access
decision point has allowed it — projecting the answer to the allowed items and auditing the read."""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.interface_models import ServiceInterface
from gongshu.catalog import data_view as catalog_data_view
from gongshu.catalog.data_view import EntryView
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import DataDecision, enforce_data, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.timeutil import now

METHODS = ("GET", "POST")
MAX_TIMEOUT = 60.0  # seconds; a platform setting, not a statutory number
MAX_ROWS = 1000
SUBJECT_KINDS = ("person", "legal_person")


def published_entry(session: Session, code: str) -> EntryView:
    """The published catalog entry `code`, or a precise 404."""
    entry = catalog_data_view.find_entry(session, code)
    if entry is None or entry.status != "published":
        raise NotFound(
            "interface.resource_unknown",
            f"资源 {code} 不存在或未发布",
            f"Resource {code} does not exist or is not published",
        )
    return entry


def key_item(entry: EntryView) -> str | None:
    """R10: the entry's key item (ID number for persons, USCC for legal persons)."""
    return next((i.name for i in entry.items if i.is_key), None)


def subject_keys(entry: EntryView, rows: list[dict[str, Any]]) -> list[str]:
    """R26: the person or company keys of the rows returned (for the audit's data tracker)."""
    key = key_item(entry)
    if key is None or entry.subject_kind not in SUBJECT_KINDS:
        return []
    return [str(r[key]) for r in rows if r.get(key)]


def _invalid(code: str, zh: str, en: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field)


def get_interface(session: Session, code: str) -> ServiceInterface | None:
    return session.scalar(select(ServiceInterface).where(ServiceInterface.resource_code == code))


def register_interface(
    session: Session,
    actor: Actor,
    code: str,
    *,
    base_url: str,
    path_template: str = "",
    method: str = "GET",
    params: dict[str, str] | None = None,
    timeout_seconds: float = 5.0,
    legal_basis: str = "",
) -> ServiceInterface:
    """R7: the provider's data officer registers (or re-registers) the department's API for an entry whose
    data may not be copied. A (re-)registration waits for the authority's confirmation."""
    entry = published_entry(session, code)
    require(session, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id)
    parts = urlsplit((base_url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(
            "interface.base_url_invalid",
            "接口地址须为 http(s) 网址",
            "The base URL must be an http(s) URL",
            "base_url",
        )
    method = (method or "GET").upper()
    if method not in METHODS:
        raise _invalid(
            "interface.method_invalid", "请求方式须为 GET 或 POST", "The method must be GET or POST", "method"
        )
    items = {i.name for i in entry.items}
    mapping = {str(k).strip(): str(v).strip() for k, v in (params or {}).items() if str(k).strip()}
    unknown = sorted(v for v in mapping.values() if v not in items)
    if not mapping or unknown:
        raise _invalid(
            "interface.params_invalid",
            "允许的查询参数须对应目录中的信息项",
            f"Allowed parameters must map to catalog items (unknown: {', '.join(unknown)})",
            "params",
        )
    placeholders = {f for _, f, _, _ in string.Formatter().parse(path_template or "") if f}
    if not placeholders <= set(mapping):
        raise _invalid(
            "interface.path_invalid",
            "路径模板只能引用允许的查询参数",
            "The path template may only use allowed parameters",
            "path_template",
        )
    if not 0 < float(timeout_seconds) <= MAX_TIMEOUT:
        raise _invalid(
            "interface.timeout_invalid",
            f"超时时间应在0至{MAX_TIMEOUT:g}秒之间",
            f"The timeout must be between 0 and {MAX_TIMEOUT:g} seconds",
            "timeout_seconds",
        )
    basis = (legal_basis or "").strip()
    if not basis:
        raise _invalid(
            "interface.basis_required",
            "请说明不得汇聚的法律依据（R7）",
            "State the legal basis that forbids aggregating this data (R7)",
            "legal_basis",
        )
    row = get_interface(session, code) or ServiceInterface(resource_code=code)
    row.base_url, row.path_template, row.method = parts.geturl().rstrip("/"), path_template or "", method
    row.params, row.timeout_seconds, row.legal_basis = mapping, float(timeout_seconds), basis
    row.registered_by_user_id, row.registered_at = actor.user_id, now()
    row.confirmed_by_user_id, row.confirmed_at, row.enabled = None, None, False
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "interface.register",
        object_type="resource",
        object_id=code,
        detail={"base_url": row.base_url, "method": method, "params": mapping, "legal_basis": basis},
    )
    return row


def confirm_interface(session: Session, actor: Actor, code: str, reason: str = "") -> ServiceInterface:
    """R7: the authority confirms that the data may not be copied; from now on it is served through the
    interface."""
    require(session, actor, Action.SUPERVISE)
    if actor.org_kind != OrgKind.AUTHORITY:
        raise Forbidden(
            "interface.authority_only",
            "只有主管部门可以确认服务接口",
            "Only the authority may confirm a service interface",
        )
    row = get_interface(session, code)
    if row is None:
        raise NotFound(
            "interface.unknown",
            f"资源 {code} 没有登记服务接口",
            f"Resource {code} has no registered service interface",
        )
    if row.enabled:
        raise Conflict(
            "interface.already_confirmed", "该服务接口已确认", "The interface is already confirmed"
        )
    row.confirmed_by_user_id, row.confirmed_at, row.enabled = actor.user_id, now(), True
    session.flush()
    record(
        session,
        actor,
        "interface.confirm",
        object_type="resource",
        object_id=code,
        detail={"legal_basis": row.legal_basis, "reason": (reason or "").strip()},
    )
    return row


def _forward(row: ServiceInterface, params: dict[str, str]) -> list[dict[str, Any]]:
    """Call the department's API with the allowed parameters only; upstream failures become precise errors."""
    fields = {f for _, f, _, _ in string.Formatter().parse(row.path_template) if f}
    path = row.path_template.format(**{k: quote(v, safe="") for k, v in params.items() if k in fields})
    query = {k: v for k, v in params.items() if k not in fields}
    url = row.base_url + (path if not path or path.startswith("/") else "/" + path)
    try:
        if row.method == "POST":
            resp = httpx.post(url, json=query, timeout=row.timeout_seconds)
        else:
            resp = httpx.get(url, params=query, timeout=row.timeout_seconds)
    except httpx.TimeoutException as exc:
        raise GongshuError(
            "interface.upstream_timeout",
            f"部门接口在{row.timeout_seconds:g}秒内未响应",
            f"The department's API did not answer within {row.timeout_seconds:g} s",
            status_code=504,
        ) from exc
    except httpx.HTTPError as exc:
        raise GongshuError(
            "interface.upstream_unreachable",
            "无法连接部门接口",
            f"The department's API cannot be reached ({type(exc).__name__})",
            status_code=502,
        ) from exc
    if resp.status_code >= 400:
        raise GongshuError(
            "interface.upstream_error",
            f"部门接口返回错误（HTTP {resp.status_code}）",
            f"The department's API answered HTTP {resp.status_code}",
            status_code=502,
            details={"status": resp.status_code},
        )
    try:
        body = resp.json()
    except ValueError as exc:
        raise GongshuError(
            "interface.upstream_invalid",
            "部门接口返回的不是 JSON",
            "The department's API did not answer with JSON",
            status_code=502,
        ) from exc
    data = body.get("rows", body.get("data")) if isinstance(body, dict) else body
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise GongshuError(
            "interface.upstream_invalid",
            "部门接口返回的数据格式无法识别",
            "The department's API answered in an unknown shape",
            status_code=502,
        )
    return data[:MAX_ROWS]


def _project(rows: list[dict[str, Any]], decision: DataDecision) -> list[dict[str, Any]]:
    """Keep the allowed items only, and the rows a grant's row filter admits."""
    out = []
    for r in rows:
        if any(str(r.get(col)) not in {str(v) for v in vals} for col, vals in decision.row_filter.items()):
            continue
        out.append({i: r.get(i) for i in decision.items})
    return out


def call_interface(
    session: Session, actor: Actor, code: str, params: dict[str, str], scenario: str | None
) -> tuple[list[dict[str, Any]], DataDecision]:
    """R7 R16 R17 R26: serve a confirmed interface entry: validate, ask the access decision point (a refusal
    forwards nothing), forward, project to the allowed items, audit the read with the subject keys."""
    entry = published_entry(session, code)
    row = get_interface(session, code)
    if row is None or not row.enabled or row.confirmed_at is None:
        raise Conflict(
            "interface.not_confirmed",
            "该资源的服务接口尚未经主管部门确认",
            "The resource's service interface is not confirmed by the authority",
        )
    clean = {str(k): str(v) for k, v in params.items()}
    extra = sorted(set(clean) - set(row.params))
    if extra:
        raise _invalid(
            "interface.param_not_allowed",
            f"不允许的查询参数：{'、'.join(extra)}",
            f"Parameters not allowed: {', '.join(extra)}",
            "params",
        )
    decision = enforce_data(
        session,
        actor,
        catalog_data_view.data_resource(session, entry.resource_code),
        scenario=scenario,
        method="api",
        path=f"/api/v1/data/{code}/interface",
    )
    rows = _project(_forward(row, clean), decision)
    record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id=code,
        grant_id=decision.grant_id,
        scenario=decision.scenario,
        subject_keys=subject_keys(entry, rows),
        detail={"via": "interface", "basis": decision.basis, "rows": len(rows), "params": sorted(clean)},
    )
    return rows, decision
