"""R13: the quality reports — scores by department and resource (worst first), and a resource's score
explained part by part with the problems found by the latest re-check, each with the batch and source row
it came from. Read-only: shown to whoever the access decision point lets read the aggregation's reports
(DATA_REPORTS_READ: the provider's data officers, the authority's supervisors, the auditors — R26–R28).
Thin: the figures come from `quality.scores` and `quality.recheck`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import entry_label
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.quality import recheck, scores
from gongshu.store import service as store
from gongshu.web.deps import require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/data/quality", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
PROBLEM_PAGE = 500


@router.get("", response_class=HTMLResponse)
def quality_home(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R13 R26–R28: quality scores by department and by resource, worst first, computed at one moment the
    page states (the authority's supervisors and the auditors of the authority and the operator see every
    provider; a data officer or a department's auditor, the organisations they act for)."""
    with read_scope() as s:
        scope = require(s, actor, Action.DATA_REPORTS_READ).org_scope
        at = now()
        departments = scores.department_scores(s, scope, at=at)
        resources = sorted((r for d in departments for r in d.resources), key=scores.worst_first)
        return render(
            request,
            "quality/scores.html",
            departments=departments,
            resources=resources,
            recent_days=scores.RECENT_DAYS,
            computed_at=at,
        )


@router.get("/{code}", response_class=HTMLResponse)
def quality_resource(request: Request, actor: LoggedIn, code: str) -> HTMLResponse:
    """R13 R26: a resource's score explained part by part (as the list computes it, at the moment the page
    states), the recent batches that refused rows, and the problems from its latest re-check, linking each
    to its batch; the read is audited with the keyed hashes of the records' keys (the values are personal
    data)."""
    with session_scope() as s:
        provider = _require_view(s, actor, code)
        info = store.describe(s, code)
        label = entry_label(s, code)
        check = recheck.latest(s, code)
        rows = recheck.problems(s, code, PROBLEM_PAGE)
        at = now()
        mine = [r for r in scores.resource_scores(s, frozenset({provider}), at=at) if r.resource_code == code]
        record(
            s,
            actor,
            "quality.problems_read",
            object_type="resource",
            object_id=code,
            detail={"rows": len(rows)},
            subject_keys=sorted({p.record_key for p in rows}),
        )
        return render(
            request,
            "quality/resource.html",
            res=info,
            check=check,
            problems=rows,
            shown=len(rows),
            score=mine[0] if mine else None,
            title=_title(label.name if label else "", label.name_en if label else "", code, lang_of(request)),
            records_now=store.count(s, code),
            refusing=scores.refusing_batches(s, code, at),
            recent_days=scores.RECENT_DAYS,
            computed_at=at,
            may_upload=decide(s, actor, Action.DATA_INGEST, org_id=provider).allowed,
        )


def _title(name: str, name_en: str, code: str, lang: str) -> str:
    """R13: the resource as the page names it — its catalog name in the page's language (the Chinese name
    when it has no English one), its code only when it has no name at all."""
    return (name if lang == "zh" else (name_en or name)) or code


def _require_view(session: Session, actor: Actor, code: str) -> int:
    """R13 R26–R28: a resource's quality report is for those the access decision point lets read the
    provider's reports (DATA_REPORTS_READ: its data officers, the authority's supervisors, the auditors of
    the authority, the operator or the provider); anyone else is refused with this page's own message (not
    the batch pages'). Returns the provider."""
    provider = store.provider_of(session, code)
    if not decide(session, actor, Action.DATA_REPORTS_READ, org_id=provider).allowed:
        raise Forbidden(
            "quality.resource_forbidden",
            "只有数据提供单位的数据专员、主管部门和审计员可查看该资源的数据质量报告",
            "Only the provider's data officers, the authority and the auditors may see this resource's "
            "quality report",
        )
    return provider
