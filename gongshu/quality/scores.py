"""R13: quality scores per resource and per department, from the latest re-check of the stored records
(after the load, 事后) and the rows refused by recent batches (during the load, 事中).

Resource score (0–100, higher is better), computed at one moment `at` (the pages show it)::

    score = 100 × validity × acceptance

- validity = 1 − problem_records / records — the share of stored records that pass every current rule
  (type, length, required items, ranges…) in the latest re-check (a factor of 1 when the resource has not
  been re-checked or the re-check found no record);
- acceptance = 1 − to_fix / received — the share of the rows of the resource's batches that started in
  the RECENT_DAYS days before `at` that are not still to fix, counting the rows each batch checked
  (accepted + refused + duplicates: a batch that failed before checking its rows, or is still loading,
  counts none); a factor of 1 when there were none. A refused row is still to fix until a later batch
  corrects it — a resubmission accepted the line naming it, or a later batch brought its key in
  (`store.batches.correction_counts`, as the batch page counts it): to_fix = refused − corrected.
  A resubmission is not counted on its own: its lines are its original batch's refused rows brought
  again, counted once, with the original batch (corrected, or still to fix when refused again).

The score changes when a batch is loaded (a correction included), when a batch leaves the window, and at
the next (daily) re-check; the list and a resource's page compute it alike, so at one moment they show the
same number.

Not every resource is scored (R13; `ResourceScore.status`):

- "no_data": the store holds no record of it and the latest re-check checked none (nothing stored yet,
  whatever the refused rows) — shown as "no data yet", not as 0;
- "awaiting_check": it holds records, but they were neither re-checked nor loaded by a recent batch;
- "emergency_closed": it holds the data of an emergency that is closed (R21: its data was deleted or
  de-identified at closure, so the current rules no longer describe it);
- "withdrawn": its catalog entry is withdrawn (R9: the data is no longer kept up).

A department's score is the mean of its SCORED resources' scores weighted by rows — a resource weighs the
records the re-check counted, or its recent received rows when it holds none; a resource that is not
scored is left out of the mean, so that it does not drag its department down (nor up). A department with
no scored resource has no score."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.timeutil import now
from gongshu.quality.recheck import QualityCheck
from gongshu.store import batches as store_batches
from gongshu.store.models import Batch, StoreResource

RECENT_DAYS = 30  # batches that count for the refusal share
STATUSES = ("scored", "no_data", "awaiting_check", "emergency_closed", "withdrawn")


@dataclass
class ResourceScore:
    """R13: a resource's quality figures and score (None: not scored, `status` says why)."""

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
    status: str = "scored"
    batches: int = 0  # the recent batches whose rows count for `received` and `refused`
    at: dt.datetime | None = None  # the moment the score was computed
    corrected: int = 0  # of the `refused` rows, those a later batch corrected since (R13)

    @property
    def weight(self) -> int:
        return self.records or self.received

    @property
    def validity(self) -> float | None:
        """R13: the share of the re-checked records without a problem (None: none re-checked)."""
        if self.problem_records is None or self.records <= 0:
            return None
        return 1 - self.problem_records / self.records

    @property
    def to_fix(self) -> int:
        """R13: the rows recent batches refused that no later batch has corrected yet."""
        return max(self.refused - self.corrected, 0)

    @property
    def acceptance(self) -> float | None:
        """R13: the share of the rows recent batches checked that are not still to fix (None: no recent
        row)."""
        return 1 - self.to_fix / self.received if self.received else None

    @property
    def scored(self) -> bool:
        """R13: does it count in its department's score?"""
        return self.status == "scored" and self.score is not None


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

    @property
    def scored(self) -> int:
        """R13: how many of its resources count in its score."""
        return sum(1 for r in self.resources if r.scored)


def score_of(records: int, problem_records: int | None, received: int, to_fix: int) -> float | None:
    """R13: 100 × validity × acceptance; see the module's docstring (`to_fix`: the refused rows not
    corrected since)."""
    checked = problem_records is not None and records > 0
    if not checked and received == 0:
        return None
    kept = 1 - (problem_records or 0) / records if checked else 1.0
    accepted = 1 - to_fix / received if received else 1.0
    return round(100 * kept * accepted, 2)


def _latest_checks(session: Session) -> dict[str, QualityCheck]:
    newest = (
        select(QualityCheck.resource_code, func.max(QualityCheck.id).label("id"))
        .group_by(QualityCheck.resource_code)
        .subquery()
    )
    stmt = select(QualityCheck).join(newest, newest.c.id == QualityCheck.id)
    return {c.resource_code: c for c in session.scalars(stmt)}


# The rows a batch checked (its report's received = accepted + refused + duplicates, once it has finished).
_CHECKED_ROWS = Batch.accepted + Batch.refused + Batch.deduplicated


def _recent(at: dt.datetime) -> Any:
    """R13: the batches that count for the refusal share at `at`: started in the window, rows checked, not
    a resubmission (its lines are counted with the batch whose refused rows they bring again)."""
    return (
        (Batch.started_at >= at - dt.timedelta(days=RECENT_DAYS))
        & (Batch.started_at <= at)
        & (_CHECKED_ROWS > 0)
        & Batch.resubmission_of.is_(None)
    )


def _recent_batches(session: Session, at: dt.datetime) -> dict[str, tuple[int, int, int]]:
    """R13: per resource, the rows its recent batches checked, the rows they refused, how many batches."""
    stmt = (
        select(Batch.resource_code, func.sum(_CHECKED_ROWS), func.sum(Batch.refused), func.count())
        .where(_recent(at))
        .group_by(Batch.resource_code)
    )
    return {code: (int(rec or 0), int(ref or 0), int(n or 0)) for code, rec, ref, n in session.execute(stmt)}


def _corrected(session: Session, at: dt.datetime) -> dict[str, int]:
    """R13: per resource, how many of the rows its recent batches refused were corrected since by a later
    batch — counted as the batch page counts them (`store.batches.correction_counts`). Only a batch with a
    later committed batch of its resource can have a corrected row, so only those are looked into."""
    refusing = session.execute(
        select(Batch.id, Batch.resource_code).where(_recent(at), Batch.refused > 0).order_by(Batch.id)
    ).all()
    if not refusing:
        return {}
    codes = sorted({str(code) for _, code in refusing})
    newest = select(Batch.resource_code, func.max(Batch.id)).where(
        Batch.resource_code.in_(codes), Batch.status == "committed"
    )
    latest = {str(code): int(n or 0) for code, n in session.execute(newest.group_by(Batch.resource_code))}
    out: dict[str, int] = {}
    for batch_id, code in refusing:
        if latest.get(str(code), 0) <= int(batch_id):
            continue  # nothing loaded since: nothing corrected
        batch = session.get(Batch, batch_id)
        if batch is not None:
            fixed = store_batches.correction_counts(session, batch)["corrected"]
            out[str(code)] = out.get(str(code), 0) + fixed
    return out


def refusing_batches(session: Session, code: str, at: dt.datetime, limit: int = 50) -> list[Batch]:
    """R13: the batches counted in a resource's score at `at` that refused rows, newest first (at most
    `limit`) — where the refused rows are: each batch's quarantine names their source row, column and
    rule, so that the provider can correct them."""
    stmt = (
        select(Batch)
        .where(Batch.resource_code == code, _recent(at), Batch.refused > 0)
        .order_by(Batch.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _not_maintained(session: Session) -> dict[str, str]:
    """R9 R21: the resources no longer kept up — withdrawn entries, closed emergencies — and why."""
    from gongshu.aggregation.freshness import closed_emergency_resources
    from gongshu.catalog.models import CatalogEntry

    out = {code: "emergency_closed" for code in closed_emergency_resources(session)}
    withdrawn = select(CatalogEntry.resource_code).where(CatalogEntry.status == "withdrawn")
    out.update({code: "withdrawn" for code in session.scalars(withdrawn)})
    return out


def resource_scores(
    session: Session, org_ids: frozenset[int] | None = None, *, at: dt.datetime | None = None
) -> list[ResourceScore]:
    """R13: every provisioned resource's score at `at` (now if not given) — of the given providers (None:
    all) — worst first, the resources not scored last."""
    from gongshu.catalog.data_view import entry_labels

    at = at or now()
    checks = _latest_checks(session)
    recent = _recent_batches(session, at)
    corrected = _corrected(session, at)
    labels = entry_labels(session, org_ids)
    not_kept = _not_maintained(session)
    out: list[ResourceScore] = []
    for res in session.scalars(select(StoreResource)):
        label = labels.get(res.resource_code)
        if label is None:  # not an entry of the providers asked for
            continue
        name, name_en, org = label.name, label.name_en, label.provider_org_id
        check = checks.get(res.resource_code)
        received, refused, n_batches = recent.get(res.resource_code, (0, 0, 0))
        fixed = min(corrected.get(res.resource_code, 0), refused)
        records = check.records if check else res.row_count
        problem_records = check.problem_records if check else None
        score = score_of(records, problem_records, received, refused - fixed)
        if res.resource_code in not_kept:
            status = not_kept[res.resource_code]
        elif res.row_count == 0 and records == 0:
            status = "no_data"  # R13: nothing stored, nothing checked — no data yet, not a 0
        elif score is None:
            status = "awaiting_check"
        else:
            status = "scored"
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
                score=score if status == "scored" else None,
                stored=res.row_count,
                status=status,
                batches=n_batches,
                at=at,
                corrected=fixed,
            )
        )
    return sorted(out, key=worst_first)


def worst_first(r: ResourceScore) -> tuple[int, float, int, str]:
    """R13: scored resources worst first, then those not scored (in the order of STATUSES)."""
    return (
        r.score is None,
        r.score if r.score is not None else 0.0,
        STATUSES.index(r.status),
        r.resource_code,
    )


def department_scores(
    session: Session, org_ids: frozenset[int] | None = None, *, at: dt.datetime | None = None
) -> list[DepartmentScore]:
    """R13: the departments' scores at `at` (weighted by rows, over their scored resources only), worst
    first, each with its resources."""
    from gongshu.kernel.identity.models import Organisation

    by_org: dict[int, list[ResourceScore]] = {}
    for r in resource_scores(session, org_ids, at=at):
        by_org.setdefault(r.provider_org_id, []).append(r)
    orgs: dict[int, Any] = {
        o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(list(by_org))))
    }
    out: list[DepartmentScore] = []
    for org_id, resources in by_org.items():
        scored = [r for r in resources if r.scored]
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
