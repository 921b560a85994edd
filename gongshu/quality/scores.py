"""R13: quality scores per resource and per department, from the latest re-check of the stored records
(after the load) and the rows refused by recent batches (during the load).

Resource score (0–100, higher is better)::

    score = 100 × (1 − problem_records / records) × (1 − refused / received)

- `problem_records / records` — the share of stored records with at least one problem in the latest
  re-check (a factor of 1 when the resource has not been re-checked or holds no records);
- `refused / received` — the share of rows refused, summed over the resource's batches that started in
  the last RECENT_DAYS days (a factor of 1 when there were none).

A resource with neither a re-check nor a recent batch has no score. A department's score is the mean of
its resources' scores weighted by rows: a resource weighs its stored records, or its recent received rows
when it holds none (so a resource whose every row was refused still counts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.timeutil import now
from gongshu.quality.recheck import QualityCheck
from gongshu.store.models import Batch, StoreResource

RECENT_DAYS = 30  # batches that count for the refusal share


@dataclass
class ResourceScore:
    """R13: a resource's quality figures and score (None: nothing to score yet)."""

    resource_code: str
    name: str
    name_en: str
    provider_org_id: int
    records: int
    problem_records: int | None
    received: int
    refused: int
    checked_at: dt.datetime | None
    score: float | None
    stored: int = 0  # the records the store holds now (`records` is what the latest re-check counted)

    @property
    def weight(self) -> int:
        return self.records or self.received


@dataclass
class DepartmentScore:
    """R13: a department's score, weighted by rows, with its resources worst first."""

    org_id: int
    name: str
    name_en: str
    score: float | None
    records: int
    resources: list[ResourceScore] = field(default_factory=list)
    stored: int = 0  # the records its resources hold now


def score_of(records: int, problem_records: int | None, received: int, refused: int) -> float | None:
    """R13: 100 × (1 − problem_records/records) × (1 − refused/received); see the module's docstring."""
    checked = problem_records is not None and records > 0
    if not checked and received == 0:
        return None
    kept = 1 - (problem_records or 0) / records if checked else 1.0
    accepted = 1 - refused / received if received else 1.0
    return round(100 * kept * accepted, 2)


def _latest_checks(session: Session) -> dict[str, QualityCheck]:
    newest = (
        select(QualityCheck.resource_code, func.max(QualityCheck.id).label("id"))
        .group_by(QualityCheck.resource_code)
        .subquery()
    )
    stmt = select(QualityCheck).join(newest, newest.c.id == QualityCheck.id)
    return {c.resource_code: c for c in session.scalars(stmt)}


def _recent_batches(session: Session) -> dict[str, tuple[int, int]]:
    since = now() - dt.timedelta(days=RECENT_DAYS)
    stmt = (
        select(Batch.resource_code, func.sum(Batch.received), func.sum(Batch.refused))
        .where(Batch.started_at >= since, Batch.received > 0)
        .group_by(Batch.resource_code)
    )
    return {code: (int(rec or 0), int(ref or 0)) for code, rec, ref in session.execute(stmt)}


def resource_scores(session: Session, org_ids: frozenset[int] | None = None) -> list[ResourceScore]:
    """R13: every provisioned resource's score (of the given providers; None: all), worst first."""
    from gongshu.catalog.data_view import entry_labels

    checks = _latest_checks(session)
    recent = _recent_batches(session)
    labels = entry_labels(session, org_ids)
    out: list[ResourceScore] = []
    for res in session.scalars(select(StoreResource)):
        label = labels.get(res.resource_code)
        if label is None:  # not an entry of the providers asked for
            continue
        name, name_en, org = label.name, label.name_en, label.provider_org_id
        check = checks.get(res.resource_code)
        received, refused = recent.get(res.resource_code, (0, 0))
        records = check.records if check else res.row_count
        problem_records = check.problem_records if check else None
        out.append(
            ResourceScore(
                resource_code=res.resource_code,
                name=name,
                name_en=name_en or res.resource_code,
                provider_org_id=int(org),
                records=records,
                problem_records=problem_records,
                received=received,
                refused=refused,
                checked_at=check.checked_at if check else None,
                score=score_of(records, problem_records, received, refused),
                stored=res.row_count,
            )
        )
    return sorted(out, key=_worst_first)


def _worst_first(r: ResourceScore) -> tuple[int, float, str]:
    return (r.score is None, r.score if r.score is not None else 0.0, r.resource_code)


def department_scores(session: Session, org_ids: frozenset[int] | None = None) -> list[DepartmentScore]:
    """R13: the departments' scores (weighted by rows), worst first, each with its resources."""
    from gongshu.kernel.identity.models import Organisation

    by_org: dict[int, list[ResourceScore]] = {}
    for r in resource_scores(session, org_ids):
        by_org.setdefault(r.provider_org_id, []).append(r)
    orgs: dict[int, Any] = {
        o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(list(by_org))))
    }
    out: list[DepartmentScore] = []
    for org_id, resources in by_org.items():
        scored = [r for r in resources if r.score is not None]
        weight = sum(r.weight for r in scored)
        score = (
            round(sum(r.score * r.weight for r in scored if r.score is not None) / weight, 2)
            if weight
            else None
        )
        org = orgs.get(org_id)
        out.append(
            DepartmentScore(
                org_id=org_id,
                name=org.name_zh if org else str(org_id),
                name_en=(org.name_en or org.name_zh) if org else str(org_id),
                score=score,
                records=sum(r.records for r in resources),
                resources=resources,
                stored=sum(r.stored for r in resources),
            )
        )
    return sorted(out, key=lambda d: (d.score is None, d.score if d.score is not None else 0.0, d.name))
