"""R7: the service-interface proxy. Data that law forbids aggregating is not copied into the platform: the
department registers its own HTTP API for the catalog entry, the authority confirms (recorded, with the
legal basis), and only then does the platform serve the entry by forwarding each call — after the access
decision point has allowed it — projecting the answer to the allowed items and auditing the read."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.interface_models import ServiceInterface
from gongshu.catalog import data_view as catalog_data_view
from gongshu.catalog.data_view import EntryView
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import AccessDenied, DataDecision, decide, enforce_data, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.timeutil import now

METHODS = ("GET", "POST")
MAX_TIMEOUT = 60.0  # seconds; a platform setting, not a statutory number
MAX_ROWS = 1000
ADDRESS_MAX = 500  # characters: the columns `service_interface.base_url` and `.path_template`
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


def viewable_entry(session: Session, actor: Actor, code: str) -> EntryView:
    """R7 R26: the published entry `code` for its service-interface page — the department's address, the
    legal basis and the parameter mapping are the business of the provider's data officers (DATA_MANAGE
    over the provider) and the authority's supervisors (SUPERVISE); anyone else (another department, the
    public) is answered as for an unknown resource (404, the refusal audited), so that nothing leaks."""
    entry = published_entry(session, code)
    if decide(session, actor, Action.DATA_MANAGE, org_id=entry.provider_org_id).allowed:
        return entry
    if decide(session, actor, Action.SUPERVISE).allowed:
        return entry
    denied = AccessDenied(
        "interface.resource_unknown",
        f"资源 {code} 不存在或未发布",
        f"Resource {code} does not exist or is not published",
        actor=actor,
        resource_id=code,
        scenario=None,
        detail={"reason": "interface.page_forbidden", "via": "interface_page"},
    )
    denied.status_code = 404
    raise denied


def key_item(entry: EntryView) -> str | None:
    """R10: the entry's key item (ID number for persons, USCC for legal persons)."""
    return next((i.name for i in entry.items if i.is_key), None)


def subject_keys(entry: EntryView, rows: list[dict[str, Any]]) -> list[str]:
    """R26: the person or company keys of the rows returned (for the audit's data tracker)."""
    key = key_item(entry)
    if key is None or entry.subject_kind not in SUBJECT_KINDS:
        return []
    return [str(r[key]) for r in rows if r.get(key)]


def _invalid(code: str, zh: str, en: str, field: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field, details=details or None)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOT_SEGMENTS = frozenset({".", ".."})


def path_fields(template: str) -> list[str]:
    """R7: the placeholders of a path template, in order. Only `{name}` with an identifier name: no
    positional `{}`, no attribute, index, conversion or format spec, no brace outside a placeholder
    (a literal brace has no place in a URL path)."""
    names: list[str] = []
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if not _NAME.fullmatch(name):
            raise _invalid(
                "interface.path_placeholder_invalid",
                f"路径模板中的占位符 {m.group(0)} 无效：占位符只能写作 {{参数名}}（字母、数字、下划线，不以数字开头）",
                f"The path template's placeholder {m.group(0)} is invalid: write a placeholder as "
                "{parameter} (letters, digits and underscores, not starting with a digit)",
                "path_template",
                placeholder=m.group(0),
            )
        names.append(name)
    stray = next(
        (i for i, ch in enumerate(_PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), template)) if ch in "{}"),
        None,
    )
    if stray is not None:
        raise _invalid(
            "interface.path_braces_unbalanced",
            f"路径模板的花括号不成对（第 {stray + 1} 个字符）",
            f"The path template has an unbalanced brace (character {stray + 1})",
            "path_template",
            position=stray + 1,
        )
    return names


def _path(template: str, params: dict[str, str]) -> str:
    """R7: the path with every placeholder replaced by its parameter, percent-encoded as one segment
    (`/` and every other reserved character included), so that a value never changes the path's shape."""
    return _PLACEHOLDER.sub(lambda m: quote(params[m.group(1)], safe=""), template)


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
    for name, value in (("base_url", parts.geturl()), ("path_template", path_template or "")):
        if len(value) > ADDRESS_MAX:
            raise _invalid(
                "interface.address_too_long",
                f"接口地址和路径模板各不超过{ADDRESS_MAX}个字符",
                f"The base URL and the path template hold at most {ADDRESS_MAX} characters each",
                name,
                limit=ADDRESS_MAX,
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
    undeclared = sorted(set(path_fields(path_template or "")) - set(mapping))
    if undeclared:
        raise _invalid(
            "interface.path_invalid",
            f"路径模板只能引用允许的查询参数（未声明：{'、'.join(undeclared)}；信息项须先列为允许的参数）",
            f"The path template may only use allowed parameters (not declared: {', '.join(undeclared)}; "
            "list an item as an allowed parameter first)",
            "path_template",
            undeclared=undeclared,
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


def _forward(row: ServiceInterface, fields: list[str], params: dict[str, str]) -> list[dict[str, Any]]:
    """Call the department's API with the allowed parameters only (`fields`: those of the path, checked
    present by `_required`); upstream failures become precise errors."""
    path = _path(row.path_template, params)
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


def _registered_fields(row: ServiceInterface) -> list[str]:
    """R7: the placeholders of the registered path template; a template registered before templates were
    checked, and invalid, is the provider's to register again (nothing is forwarded)."""
    try:
        return path_fields(row.path_template)
    except ValidationFailed as exc:
        raise Conflict(
            "interface.registration_invalid",
            f"该资源登记的服务接口路径模板无效，须由提供部门重新登记：{exc.message_zh}",
            f"The resource's registered path template is invalid; the provider must register it again: "
            f"{exc.message_en}",
        ) from exc


def _required(row: ServiceInterface, fields: list[str], params: dict[str, str]) -> None:
    """R7: what a call must give before anything is forwarded (a 422 naming the parameter, not the
    department's 4xx as a 502). Every parameter of the path is required, and none may be `.` or `..` (a
    dot segment would climb out of the registered path, encoded or not). A call with no parameter at all
    is refused too: the interface answers look-ups of records; asking for its whole register would be the
    copy that R7 forbids."""
    missing = [f for f in dict.fromkeys(fields) if not params.get(f)]
    if missing:
        raise _invalid(
            "interface.param_required",
            f"缺少路径参数：{'、'.join(missing)}",
            f"Missing parameter: {', '.join(missing)}",
            missing[0],
            missing=missing,
        )
    dots = [f for f in dict.fromkeys(fields) if params[f] in DOT_SEGMENTS]
    if dots:
        raise _invalid(
            "interface.param_invalid",
            f"路径参数 {dots[0]} 不能为“.”或“..”",
            f"The path parameter {dots[0]} may not be “.” or “..”",
            dots[0],
            invalid=dots,
        )
    if not any(params.values()):
        allowed = sorted(row.params)
        raise _invalid(
            "interface.param_required",
            f"请至少提供一个查询参数：{'、'.join(allowed)}",
            f"Give at least one parameter: {', '.join(allowed)}",
            "params",
            missing=allowed,
        )


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
    # R26: the decision comes first — a refused caller learns nothing of the interface's parameters.
    decision = enforce_data(
        session,
        actor,
        catalog_data_view.data_resource(session, entry.resource_code),
        scenario=scenario,
        method="api",
        path=f"/api/v1/data/{code}/interface",
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
    fields = _registered_fields(row)
    _required(row, fields, clean)
    rows = _project(_forward(row, fields, clean), decision)
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
