"""Pages of the platform's administrators (the authority and the operator, R5): the policy versions of
the regulation (R30) and the working-day calendar behind every statutory period (R9, R14, R17, R23)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA, today_china
from gongshu.web.deps import csrf_protect, require_role
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/admin", include_in_schema=False)

Admin = Annotated[Actor, Depends(require_role("admin"))]

# An upload guard for a text file of a few hundred lines; not a statutory number.
MAX_POLICY_BYTES = 1024 * 1024


async def _read_policy_upload(upload: UploadFile | None) -> tuple[str, str]:
    """The text and the name of an uploaded policy file; a precise error when there is none, it is too
    large or it is not UTF-8 text."""
    if upload is None or not upload.filename:
        raise ValidationFailed(
            "policy.no_file", "请选择要上传的政策文件", "Choose a policy file to upload", field="file"
        )
    raw = await upload.read(MAX_POLICY_BYTES + 1)
    name = upload.filename
    if not raw.strip():
        raise ValidationFailed(
            "policy.unreadable", f"政策文件 {name} 是空的", f"Policy file {name} is empty", field="file"
        )
    if len(raw) > MAX_POLICY_BYTES:
        raise ValidationFailed(
            "policy.unreadable",
            f"政策文件 {name} 超过 1 MiB",
            f"Policy file {name} exceeds 1 MiB",
            field="file",
        )
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError:
        raise ValidationFailed(
            "policy.unreadable",
            f"政策文件 {name} 不是 UTF-8 编码的文本",
            f"Policy file {name} is not UTF-8 text",
            field="file",
        ) from None


def _policy_page(request: Request, version: str | None, **extra: Any) -> dict[str, Any]:
    """R30: every version with its period, the one in force (or carried on after lapsing), and the
    deadlines of the version shown."""
    from gongshu.kernel.db import read_scope
    from gongshu.kernel.identity.service import get_user
    from gongshu.kernel.policy import service as policy

    with read_scope() as s:
        rows = policy.versions(s)
        try:
            current = policy.at(s)
        except GongshuError:
            current = None
        shown = policy.get_version(s, version) if version else current
        loaders = {
            r.loaded_by_user_id: get_user(s, r.loaded_by_user_id).username
            for r in rows
            if r.loaded_by_user_id is not None
        }
        s.expunge_all()  # the rows are read by the template after the unit of work ends
    return {
        "versions": rows,
        "current": current,
        "shown": shown,
        "today": today_china(),
        "china": CHINA,
        "loaders": loaders,
        "lang": lang_of(request),
        **extra,
    }


@router.get("/policy", response_class=HTMLResponse)
def policy_page(
    request: Request, actor: Admin, version: str | None = None, loaded: str | None = None
) -> HTMLResponse:
    return render(request, "admin/policy.html", **_policy_page(request, version, loaded=loaded))


@router.post("/policy", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
async def policy_upload(
    request: Request, actor: Admin, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    """R30: load a successor policy version. Validated whole before anything is stored; audited."""
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import session_scope
    from gongshu.kernel.policy import service as policy
    from gongshu.web.pages.shell import forget_policy_state

    try:
        text, name = await _read_policy_upload(file)
        doc = policy.parse_policy(text, source=name)
        with session_scope() as s:
            known = {v.id for v in policy.versions(s)}
            row = policy.load(s, doc, user_id=actor.user_id)
            if row.id not in known:
                record(
                    s,
                    actor,
                    "policy.load",
                    object_type="policy_version",
                    object_id=row.id,
                    detail={
                        "file": name,
                        "effective_from": str(doc.effective_from),
                        "effective_to": str(doc.effective_to or ""),
                        "digest": row.digest,
                    },
                )
    except GongshuError as exc:
        page = _policy_page(request, None, upload_error=exc, upload_message=exc.message(lang_of(request)))
        return render(request, "admin/policy.html", status_code=exc.status_code, **page)
    forget_policy_state()
    return RedirectResponse(f"/admin/policy?{urlencode({'loaded': row.id})}", status_code=303)


def _calendar_page(
    request: Request, start: str | None, days: str | None, deadline: str | None, **extra: Any
) -> dict[str, Any]:
    """The loaded holiday notices, where each nearby year's days come from, and the deadline calculator."""
    from gongshu.kernel.clock import service as clock
    from gongshu.kernel.clock.calendar import package_years
    from gongshu.kernel.db import read_scope
    from gongshu.kernel.policy import service as policy

    today = today_china()
    result = calc_error = None
    with read_scope() as s:
        notices = clock.list_notices(s)
        years = [clock.year_overview(s, y) for y in range(today.year - 1, today.year + 3)]
        try:
            pol = policy.at(s)
            deadlines = pol.doc.deadlines
        except GongshuError:
            pol, deadlines = None, {}
        if start:
            try:
                n = _working_days(days, deadline, pol)
                result = (n, clock.add_working_days(s, _iso_day(start), n))
            except GongshuError as exc:
                calc_error = exc.message(lang_of(request))
        s.expunge_all()  # the notices are read by the template after the unit of work ends
    known = package_years()
    return {
        "notices": notices,
        "years": years,
        "package_first": known.start,
        "package_last": known.stop - 1,
        "deadlines": deadlines,
        "today": today,
        "china": CHINA,
        "calc": {"start": start or today.isoformat(), "days": days or "", "deadline": deadline or ""},
        "result": result,
        "calc_error": calc_error,
        **extra,
    }


def _iso_day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "clock.invalid_date",
            f"日期 {value} 应为 YYYY-MM-DD 格式",
            f"The date {value} must be YYYY-MM-DD",
            field="from",
        ) from None


def _working_days(days: str | None, deadline: str | None, pol: Any) -> int:
    """The number of working days asked for: a policy deadline (R30) or a number typed in."""
    if deadline and pol is not None:
        return int(pol.working_days(deadline))
    try:
        return int((days or "").strip())
    except ValueError:
        raise ValidationFailed(
            "clock.invalid_working_days",
            f"工作日数必须是非负整数，收到：{days!r}",
            f"The number of working days must be a non-negative integer, got {days!r}",
            field="days",
        ) from None


@router.get("/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    actor: Admin,
    start: Annotated[str | None, Query(alias="from")] = None,
    days: str | None = None,
    deadline: str | None = None,
    loaded: int | None = None,
    recomputed: int | None = None,
) -> HTMLResponse:
    page = _calendar_page(request, start, days, deadline, loaded=loaded, recomputed=recomputed)
    return render(request, "admin/calendar.html", **page)


@router.post("/calendar", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
async def calendar_upload(
    request: Request, actor: Admin, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    """Load (or replace) a year's holiday notice; open deadlines of that year are recomputed. Audited
    by the clock service."""
    from gongshu.kernel.clock import service as clock
    from gongshu.kernel.clock.notices import MAX_NOTICE_BYTES
    from gongshu.kernel.db import session_scope

    try:
        if file is None or not file.filename:
            raise ValidationFailed(
                "clock.notice_no_file",
                "请选择要上传的节假日通知文件",
                "Choose a holiday notice file to upload",
                field="file",
            )
        raw = await file.read(MAX_NOTICE_BYTES + 1)
        data = clock.parse_notice(raw, file.filename)
        with session_scope() as s:
            report = clock.load_notice_report(s, data, actor=actor, filename=file.filename)
            year, changed = report.notice.year, report.deadlines_recomputed
    except GongshuError as exc:
        page = _calendar_page(
            request, None, None, None, upload_message=exc.message(lang_of(request)), upload_error=exc
        )
        return render(request, "admin/calendar.html", status_code=exc.status_code, **page)
    return RedirectResponse(
        f"/admin/calendar?{urlencode({'loaded': year, 'recomputed': changed})}", status_code=303
    )
