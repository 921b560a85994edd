"""R13: quality rules a provider declares for a resource beyond what its items say — allowed values,
numeric ranges, patterns, date ranges, and completion from a reference resource."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import Base
from gongshu.kernel.errors import NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.quality.rulespec import RuleSpec

RULE_KINDS = ("enum", "range", "pattern", "date_range", "complete")


class QualityRule(Base):
    """R13: one declared rule of a resource's item. `params` by kind: enum {"values": [...]}, range
    {"min": n, "max": n}, pattern {"regex": "..."}, date_range {"min": "YYYY-MM-DD", "max": ...},
    complete {"reference": CODE, "reference_item": NAME, "reference_key": NAME (default: its key)}."""

    __tablename__ = "quality_rule"
    __table_args__ = (UniqueConstraint("resource_code", "item", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    item: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)


def _invalid(field: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed("quality.rule_invalid", zh, en, field=field)


def _check_params(kind: str, params: dict[str, Any], field: str) -> None:
    """R13: a rule must be usable before it is stored."""
    if kind == "enum" and not (isinstance(params.get("values"), list) and params["values"]):
        raise _invalid(
            field, "枚举规则需要非空的取值列表 values", "An enum rule needs a non-empty list `values`"
        )
    if kind == "range":
        for bound in ("min", "max"):
            if bound in params and not isinstance(params[bound], int | float):
                raise _invalid(field, "范围规则的 min/max 应为数字", "A range rule's min/max must be numbers")
    if kind == "pattern":
        try:
            re.compile(str(params.get("regex", "")))
        except re.error as exc:
            raise _invalid(field, f"正则表达式无效：{exc}", f"Invalid regular expression: {exc}") from exc
        if not params.get("regex"):
            raise _invalid(field, "模式规则需要 regex", "A pattern rule needs `regex`")
    if kind == "date_range":
        for bound in ("min", "max"):
            if bound in params:
                try:
                    dt.date.fromisoformat(str(params[bound]))
                except ValueError as exc:
                    raise _invalid(field, "日期范围应为 YYYY-MM-DD", "Date bounds are YYYY-MM-DD") from exc
    if kind == "complete" and not (params.get("reference") and params.get("reference_item")):
        raise _invalid(
            field,
            "补全规则需要参照资源代码 reference 和参照信息项 reference_item",
            "A completion rule needs `reference` (resource code) and `reference_item`",
        )


def set_rules(
    session: Session, actor: Actor, resource_code: str, rules: list[dict[str, Any]]
) -> list[QualityRule]:
    """R13: replace the declared rules of a resource (the provider's data officer). Validates every rule
    first, then replaces them in the caller's transaction, audited."""
    from gongshu.store import service as store

    resource = store.get_resource(session, resource_code)
    require(session, actor, Action.DATA_MANAGE, org_id=store.provider_of(session, resource_code))
    names = {i["name"] for i in resource.items}
    for n, rule in enumerate(rules):
        field = f"rules[{n}]"
        if rule.get("kind") not in RULE_KINDS:
            raise _invalid(
                field, f"未知的规则类型：{rule.get('kind')}", f"Unknown rule kind: {rule.get('kind')}"
            )
        if rule.get("item") not in names:
            raise _invalid(
                field, f"资源没有信息项：{rule.get('item')}", f"The resource has no item {rule.get('item')}"
            )
        _check_params(str(rule["kind"]), dict(rule.get("params") or {}), field)
        if rule["kind"] == "complete":
            ref = dict(rule["params"])["reference"]
            if ref != resource_code and store.find_resource(session, ref) is None:
                raise NotFound(
                    "quality.reference_unknown", f"参照资源不存在：{ref}", f"No reference resource {ref}"
                )
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
