"""Auditor pages (R26–R28): search the audit log, export it, verify its SM3 hash chain.

An auditor of a department sees the entries of their own organisation only; an auditor or administrator
of the authority or the operator sees every entry (R27: the operator monitors; R28: the authority
supervises). The scope is passed to the query service as `org_id`, so it holds for every path.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA
from gongshu.web.deps import require_role
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/audit", include_in_schema=False)

Auditor = Annotated[Actor, Depends(require_role("auditor", "admin"))]
PAGE_SIZE = 50
SUPERVISING_KINDS = frozenset({"authority", "operator"})
FILTER_FIELDS = ("actor", "action", "object_type", "object_id", "outcome", "since", "until")


def audit_scope(session: Session, actor: Actor) -> int | None:
    """R27/R28: None (every entry) for an auditor or administrator of the authority or the operator;
    otherwise the organisation in which the actor holds the auditor role (their own comes first)."""
    from gongshu.kernel.identity.models import Organisation

    orgs = sorted({o for o, r in actor.roles if r in ("auditor", "admin")}, key=lambda o: o != actor.org_id)
    for org_id in orgs:
        org = session.get(Organisation, org_id)
        if org is not None and org.kind in SUPERVISING_KINDS:
            return None
    if not orgs:  # require_role let the actor in, so this cannot happen; refuse rather than widen
        raise ValidationFailed("audit.no_scope", "当前账号没有审计范围", "Your account has no audit scope")
    return orgs[0]


def _day(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "audit.date",
            f"日期 {value} 应为 YYYY-MM-DD 格式",
            f"The date {value} must be YYYY-MM-DD",
            field=field,
        ) from None


class AuditForm:
    """The search form's fields (query string), shared by the page and the export."""

    def __init__(
        self,
        actor: Annotated[str, Query()] = "",
        action: Annotated[str, Query()] = "",
        object_type: Annotated[str, Query()] = "",
        object_id: Annotated[str, Query()] = "",
        outcome: Annotated[str, Query()] = "",
        since: Annotated[str, Query()] = "",
        until: Annotated[str, Query()] = "",
    ) -> None:
        self.values = {
            "actor": actor.strip(),
            "action": action.strip(),
            "object_type": object_type.strip(),
            "object_id": object_id.strip(),
            "outcome": outcome.strip(),
            "since": since.strip(),
            "until": until.strip(),
        }

    def filters(self, org_id: int | None) -> dict[str, Any]:
        """The query service's filters (validated there), with the actor's scope."""
        v = self.values
        return {
            "actor": v["actor"] or None,
            "action_prefix": v["action"] or None,
            "object_type": v["object_type"] or None,
            "object_id": v["object_id"] or None,
            "outcome": v["outcome"] or None,
            "since": _day(v["since"], "since"),
            "until": _day(v["until"], "until"),
            "org_id": org_id,
        }

    def query(self, **extra: object) -> str:
        return urlencode({k: v for k, v in {**self.values, **extra}.items() if v not in ("", None)})


Form = Annotated[AuditForm, Depends()]


@router.get("", response_class=HTMLResponse)
def audit_search(request: Request, actor: Auditor, form: Form, page: int = 1) -> HTMLResponse:
    """R28: search the audit log (newest first), within the actor's scope."""
    from gongshu.kernel.audit import query
    from gongshu.kernel.db import read_scope

    page = max(page, 1)
    rows: list[Any] = []
    total, error = 0, None
    with read_scope() as s:
        scope = audit_scope(s, actor)
        try:
            rows, total = query.search(
                s, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **form.filters(scope)
            )
        except GongshuError as exc:
            error = exc
        s.expunge_all()  # the entries are read by the template after the unit of work ends
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        request,
        "audit/search.html",
        status_code=error.status_code if error else 200,
        rows=rows,
        china=CHINA,
        total=total,
        page=page,
        pages=pages,
        form=form,
        scoped=scope is not None,
        error_message=error.message(lang_of(request)) if error else None,
        error_field=error.field if error else None,
    )


def _chunks(handle: IO[str]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while block := handle.read(64 * 1024):
            yield block.encode("utf-8")
    finally:
        handle.close()


@router.get("/export")
def audit_export(request: Request, actor: Auditor, form: Form, format: str = "csv") -> StreamingResponse:
    """R28: download the matching entries (oldest first) as CSV or JSON Lines, within the actor's scope.
    The export itself is recorded in the audit log."""
    from gongshu.kernel.audit import query
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import read_scope, session_scope

    if format not in ("csv", "jsonl"):
        raise ValidationFailed(
            "audit.export_format",
            "导出格式应为 csv 或 jsonl",
            "The export format is csv or jsonl",
            field="format",
        )
    # Closed by _chunks once the download is sent (or below, on failure): not a `with` block.
    spool: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline=""
    )
    try:
        with read_scope() as s:
            scope = audit_scope(s, actor)
            filters = form.filters(scope)
            if format == "csv":
                spool.write("\ufeff")  # so that spreadsheet programs read the Chinese text as UTF-8
                count = query.export_csv(s, spool, **filters)
            else:
                count = query.export_jsonl(s, spool, **filters)
        with session_scope() as s:
            record(
                s,
                actor,
                "audit.export",
                object_type="audit_log",
                detail={
                    "format": format,
                    "entries": count,
                    "filters": {k: v for k, v in filters.items() if v},
                },
            )
    except BaseException:
        spool.close()
        raise
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson; charset=utf-8"
    return StreamingResponse(
        _chunks(spool),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="gongshu-audit-{stamp}.{format}"',
            "X-Entry-Count": str(count),
        },
    )


@router.get("/verify", response_class=HTMLResponse)
def audit_verify(request: Request, actor: Auditor, anchor: str = "") -> HTMLResponse:
    """R26–R28: walk the whole SM3 chain and show whether it is intact or the first bad entry. The check
    is recorded in the audit log."""
    from gongshu.kernel.audit import verify
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import read_scope, session_scope

    try:
        parsed = verify.parse_anchor(anchor) if anchor.strip() else None
    except GongshuError as exc:
        return render(
            request,
            "audit/verify.html",
            status_code=exc.status_code,
            result=None,
            anchor=anchor,
            error_message=exc.message(lang_of(request)),
        )
    with read_scope() as s:
        result = verify.verify_chain(s, anchor=parsed)
    with session_scope() as s:
        record(
            s,
            actor,
            "audit.verify",
            object_type="audit_log",
            outcome="ok" if result.ok else "error",
            detail={
                "checked": result.checked,
                "problem": result.problem_code,
                "first_bad_seq": result.first_bad_seq,
                "anchor": anchor.strip() or None,
            },
        )
    message = result.message_zh if lang_of(request) == "zh" else result.message_en
    return render(
        request, "audit/verify.html", result=result, message=message, anchor=anchor, error_message=None
    )
