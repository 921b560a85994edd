"""R13: quality rules a provider declares for a resource beyond what its items say — allowed values,
numeric ranges, patterns, date ranges, and completion from a reference resource. A rule is stored only
if it can be applied: its parameters are checked the way the checks use them (a pattern compiled by the
engine the checks run, RE2 through pyarrow), and a completion only if the access decision point lets the
provider organisation read the reference items (`quality.completion`, R26)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import JSON, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import SCENARIO_MAX, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import Base
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.quality.rulespec import RuleSpec

RULE_KINDS = ("enum", "range", "pattern", "date_range", "complete")
# R13: the parameters each kind reads; any other is refused (a misspelt one would be ignored silently).
PARAMS: dict[str, frozenset[str]] = {
    "enum": frozenset({"values"}),
    "range": frozenset({"min", "max"}),
    "pattern": frozenset({"regex"}),
    "date_range": frozenset({"min", "max"}),
    "complete": frozenset({"reference", "reference_item", "reference_key", "by", "scenario", "grant"}),
}
NUMERIC_TYPES = ("integer", "decimal")
DATE_TYPES = ("date", "datetime")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class QualityRule(Base):
    """R13: one declared rule of a resource's item. `params` by kind: enum {"values": [...]}, range
    {"min": n, "max": n}, pattern {"regex": "..."}, date_range {"min": "YYYY-MM-DD", "max": ...},
    complete {"reference": CODE, "reference_item": NAME, "reference_key": NAME (default: its key),
    "by": NAME (default: this resource's key), "scenario": TEXT, "grant": ID} — `scenario` and `grant`:
    what the provider reads the reference for, and under which grant (R17 R26)."""

    __tablename__ = "quality_rule"
    __table_args__ = (UniqueConstraint("resource_code", "item", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    item: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)


def rule_invalid(field: str, zh: str, en: str, code: str = "quality.rule_invalid") -> ValidationFailed:
    """R13: a rule refused, its index named in the field and at the head of the messages."""
    return ValidationFailed(code, f"{field}：{zh}", f"{field}: {en}", field=field)


def _number(value: Any) -> bool:
    """A finite number (JSON's true/false are not numbers here, nor NaN or Infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_enum(params: dict[str, Any], field: str) -> None:
    values = params.get("values")
    if not (isinstance(values, list) and values):
        raise rule_invalid(
            field, "枚举规则需要非空的取值列表 values", "An enum rule needs a non-empty list `values`"
        )
    for value in values:
        if not ((isinstance(value, str) and value.strip()) or _number(value)):
            raise rule_invalid(
                field,
                f"枚举取值应为非空文本或有限数值，不能是 {value!r}",
                f"Enum values are non-empty texts or finite numbers, not {value!r}",
            )


def _check_range(params: dict[str, Any], field: str, data_type: str) -> None:
    if data_type not in NUMERIC_TYPES:
        raise rule_invalid(
            field, "范围规则只适用于整数或数值信息项", "A range rule applies to integer or decimal items only"
        )
    bounds = [params[b] for b in ("min", "max") if params.get(b) is not None]
    if not bounds:
        raise rule_invalid(field, "范围规则需要 min 或 max", "A range rule needs `min` or `max`")
    if not all(_number(b) for b in bounds):
        raise rule_invalid(
            field, "范围规则的 min/max 应为有限数值", "A range rule's min/max must be finite numbers"
        )
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise rule_invalid(field, "范围规则的 min 不能大于 max", "A range rule's min must not exceed its max")


def _check_pattern(params: dict[str, Any], field: str) -> None:
    regex = params.get("regex")
    if not isinstance(regex, str) or not regex:
        raise rule_invalid(field, "模式规则需要正则表达式 regex", "A pattern rule needs `regex`")
    probe = pa.array([""], pa.string())
    try:  # compiled as the checks run it (RE2): alone, then anchored as `checks` anchors it
        pc.match_substring_regex(probe, regex)
        pc.match_substring_regex(probe, f"^(?:{regex})$")
    except pa.ArrowInvalid as exc:
        why = str(exc).removeprefix("Invalid regular expression:").strip()
        raise rule_invalid(
            field,
            f"正则表达式无效（按 RE2 语法，不支持反向引用和环视）：{why}",
            f"Invalid regular expression (RE2 syntax: no backreferences or lookaround): {why}",
        ) from exc


def _day(value: Any) -> dt.date | None:
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _check_date_range(params: dict[str, Any], field: str, data_type: str) -> None:
    if data_type not in DATE_TYPES:
        raise rule_invalid(
            field,
            "日期范围规则只适用于日期或日期时间信息项",
            "A date range applies to date or datetime items only",
        )
    given = [params[b] for b in ("min", "max") if params.get(b) is not None]
    if not given:
        raise rule_invalid(field, "日期范围规则需要 min 或 max", "A date range needs `min` or `max`")
    days = [_day(v) for v in given]
    if any(d is None for d in days):
        raise rule_invalid(field, "日期范围应为有效日期 YYYY-MM-DD", "Date bounds are valid dates YYYY-MM-DD")
    if len(days) == 2 and days[0] > days[1]:  # type: ignore[operator]
        raise rule_invalid(
            field, "日期范围的 min 不能晚于 max", "A date range's min must not be after its max"
        )


def _check_complete(params: dict[str, Any], field: str) -> None:
    for name in ("reference", "reference_item"):
        if not (isinstance(params.get(name), str) and params[name].strip()):
            raise rule_invalid(
                field,
                "补全规则需要参照资源代码 reference 和参照信息项 reference_item",
                "A completion rule needs `reference` (resource code) and `reference_item`",
            )
    for name in ("reference_key", "by"):
        if params.get(name) is not None and not (isinstance(params[name], str) and params[name]):
            raise rule_invalid(field, f"{name} 应为信息项名称", f"`{name}` must be an item name")
    scenario = params.get("scenario")
    if scenario is not None and not (
        isinstance(scenario, str) and scenario.strip() and len(scenario) <= SCENARIO_MAX
    ):
        raise rule_invalid(
            field,
            f"scenario 应为不超过 {SCENARIO_MAX} 个字符的应用场景",
            f"`scenario` is the scenario of use, at most {SCENARIO_MAX} characters",
        )
    grant = params.get("grant")
    if grant is not None and not (isinstance(grant, int) and not isinstance(grant, bool) and grant > 0):
        raise rule_invalid(field, "grant 应为共享授权编号", "`grant` must be a grant's id")


def _check_params(kind: str, params: dict[str, Any], field: str, data_type: str) -> None:
    """R13: a rule must be usable before it is stored."""
    unknown = sorted(set(params) - PARAMS[kind])
    if unknown:
        raise rule_invalid(
            field,
            f"{kind} 规则没有参数：{'、'.join(unknown)}",
            f"A {kind} rule has no parameter {', '.join(unknown)}",
        )
    if kind == "enum":
        _check_enum(params, field)
    elif kind == "range":
        _check_range(params, field, data_type)
    elif kind == "pattern":
        _check_pattern(params, field)
    elif kind == "date_range":
        _check_date_range(params, field, data_type)
    else:
        _check_complete(params, field)


def set_rules(
    session: Session, actor: Actor, resource_code: str, rules: list[dict[str, Any]]
) -> list[QualityRule]:
    """R13: replace the declared rules of a resource (the provider's data officer). Validates every rule
    first — its kind, item and parameters, one rule per item and kind, and a completion's reference
    (`quality.completion.check_reference`, which asks the access decision point, R26) — then replaces
    them in the caller's transaction, audited."""
    from gongshu.quality.completion import check_reference
    from gongshu.store import service as store

    resource = store.get_resource(session, resource_code)
    provider = store.provider_of(session, resource_code)
    require(session, actor, Action.DATA_MANAGE, org_id=provider)
    types = {str(i["name"]): str(i.get("data_type") or "string") for i in resource.items}
    seen: set[tuple[str, str]] = set()
    for n, rule in enumerate(rules):
        field = f"rules[{n}]"
        kind, item = rule.get("kind"), rule.get("item")
        if kind not in RULE_KINDS:
            raise rule_invalid(field, f"未知的规则类型：{kind}", f"Unknown rule kind: {kind}")
        if item not in types:
            raise rule_invalid(field, f"资源没有信息项：{item}", f"The resource has no item {item}")
        if (item, kind) in seen:
            raise rule_invalid(
                field,
                f"信息项 {item} 已有一条 {kind} 规则",
                f"Item {item} already has a {kind} rule",
                "quality.rule_duplicate",
            )
        seen.add((str(item), str(kind)))
        params = rule.get("params") or {}
        if not isinstance(params, dict):
            raise rule_invalid(field, "规则参数 params 应为对象", "A rule's `params` must be an object")
        _check_params(str(kind), params, field, types[str(item)])
        if kind == "complete":
            check_reference(session, actor, resource, provider, str(item), params, field)
    session.execute(delete(QualityRule).where(QualityRule.resource_code == resource_code))
    out = [
        QualityRule(
            resource_code=resource_code, item=r["item"], kind=r["kind"], params=dict(r.get("params") or {})
        )
        for r in rules
    ]
    session.add_all(out)
    session.flush()
    record(
        session,
        actor,
        "quality.set_rules",
        object_type="resource",
        object_id=resource_code,
        detail={"rules": [{"item": r.item, "kind": r.kind, "params": r.params} for r in out]},
    )
    return out


def rules_of(session: Session, resource_code: str) -> list[QualityRule]:
    """R13: the rules declared for a resource."""
    stmt = select(QualityRule).where(QualityRule.resource_code == resource_code).order_by(QualityRule.id)
    return list(session.scalars(stmt))


def specs_of(session: Session, resource_code: str) -> list[RuleSpec]:
    """R13: the declared rules as the checks read them."""
    return [RuleSpec(r.item, r.kind, dict(r.params)) for r in rules_of(session, resource_code)]
