"""R30: policy as data. `at(day)` gives the policy in force on a day; a case keeps the version that was
in force when it was submitted. A successor regulation is loaded as a new version."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import GongshuError, NotFound, ValidationFailed
from gongshu.kernel.parsing import parse_error_zh
from gongshu.kernel.policy.models import PolicyVersion
from gongshu.kernel.policy.schema import Label, PolicyDocument
from gongshu.kernel.timeutil import today_china

SHIPPED = Path(__file__).resolve().parent / "xiamen-2023.yaml"


@dataclass(frozen=True)
class Policy:
    """A policy version as used by the code: the validated document plus whether it has lapsed.

    `lapsed` is true when no version covers the day asked for and the most recent earlier version is
    carried on until the operator loads a successor (the platform keeps working; pages warn).
    """

    doc: PolicyDocument
    lapsed: bool = False

    @property
    def id(self) -> str:
        return self.doc.id

    def working_days(self, deadline: str) -> int:
        """R30: every statutory number comes from here (e.g. 'sharing_review' → 5, R17)."""
        try:
            return self.doc.deadlines[deadline].working_days
        except KeyError as exc:
            raise GongshuError(
                "policy.unknown_deadline",
                f"政策中没有期限“{deadline}”",
                f"Policy has no deadline {deadline!r}",
            ) from exc

    def label(self, group: str, key: str, lang: str = "zh") -> str:
        table: Any = getattr(self.doc, group)
        entry = table.get(key)
        if entry is None:
            return key
        if lang.startswith("zh"):
            return str(entry.zh)
        return entry.english() if isinstance(entry, Label) else str(entry.en)

    def keys(self, group: str) -> list[str]:
        return list(getattr(self.doc, group).keys())


def parse_policy(text: str, *, source: str = "policy") -> PolicyDocument:
    """Parse and validate a policy file (YAML or JSON). Raises a precise error; stores nothing."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(
            "policy.unreadable",
            f"政策文件无法解析：{parse_error_zh(exc, text)}",
            f"Policy file {source} cannot be parsed: {exc}",
        ) from exc
    if not isinstance(raw, dict):
        raise ValidationFailed("policy.unreadable", "政策文件不是一个映射", "Policy file is not a mapping")
    try:
        return PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(
            "policy.invalid",
            f"政策文件字段 {loc} 有误：{first['msg']}",
            f"Policy field {loc} is invalid: {first['msg']}",
            field=loc,
        ) from exc


def _digest(doc: PolicyDocument) -> str:
    return sm3_hex(json.dumps(doc.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode())


def load(session: Session, doc: PolicyDocument, *, user_id: int | None = None) -> PolicyVersion:
    """Store a policy version. The same id with the same content is a no-op; different content is refused
    (a version, once cases use it, never changes). Periods of versions may not overlap."""
    digest = _digest(doc)
    existing = session.get(PolicyVersion, doc.id)
    if existing is not None:
        if existing.digest == digest:
            return existing
        raise GongshuError(
            "policy.version_exists",
            f"政策版本 {doc.id} 已存在且内容不同；请使用新的版本号",
            f"Policy version {doc.id} already exists with other content; use a new version id",
        )
    for other in session.scalars(select(PolicyVersion)):
        other_to = other.effective_to or dt.date.max
        new_to = doc.effective_to or dt.date.max
        if doc.effective_from <= other_to and other.effective_from <= new_to:
            raise GongshuError(
                "policy.period_overlap",
                f"生效期与政策版本 {other.id}（{other.effective_from}至{other.effective_to or '长期'}）重叠",
                f"Effective period overlaps version {other.id} "
                f"({other.effective_from} to {other.effective_to or 'open'})",
            )
    row = PolicyVersion(
        id=doc.id,
        title_zh=doc.title_zh,
        title_en=doc.title_en,
        effective_from=doc.effective_from,
        effective_to=doc.effective_to,
        content=doc.model_dump(mode="json"),
        digest=digest,
        loaded_by_user_id=user_id,
    )
    session.add(row)
    session.flush()
    _cache.pop(doc.id, None)
    return row


def load_shipped(session: Session) -> PolicyVersion:
    """Load the shipped 2023 measures (idempotent; run by `gongshu db upgrade`)."""
    return load(session, parse_policy(SHIPPED.read_text(encoding="utf-8"), source=str(SHIPPED)))


_cache: dict[str, PolicyDocument] = {}


def _doc(row: PolicyVersion) -> PolicyDocument:
    cached = _cache.get(row.id)
    if cached is None:
        cached = PolicyDocument.model_validate(row.content)
        _cache[row.id] = cached
    return cached


def get_version(session: Session, version_id: str) -> Policy:
    row = session.get(PolicyVersion, version_id)
    if row is None:
        raise NotFound(
            "policy.unknown_version", f"没有政策版本 {version_id}", f"No policy version {version_id}"
        )
    return Policy(_doc(row))


def at(session: Session, day: dt.date | None = None) -> Policy:
    """The policy in force on a day (default: today in China). If none covers it, the latest earlier
    version carries on, marked lapsed."""
    day = day or today_china()
    rows = list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_from)))
    for row in rows:
        if row.effective_from <= day and (row.effective_to is None or day <= row.effective_to):
            return Policy(_doc(row))
    earlier = [r for r in rows if r.effective_from <= day]
    if earlier:
        return Policy(_doc(earlier[-1]), lapsed=True)
    raise NotFound(
        "policy.none_in_force", f"{day} 没有生效的政策版本", f"No policy version is in force on {day}"
    )


def versions(session: Session) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_from)))
