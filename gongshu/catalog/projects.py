"""R8: government IT projects and the government cloud.

At application time a project registers the catalog entries it will produce and its list of data needs.
Before acceptance the department must have compiled those entries and aggregated their data: the
acceptance check lists what is missing and blocks the request until nothing is. Before using the
government cloud, a department must have compiled its catalog (at least one published entry)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.projects_models import ITProject
from gongshu.catalog.validation import RESOURCE_CODE
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.hooks import on_closed, on_step_done
from gongshu.kernel.workflow.models import Case, Step
from gongshu.store import service as store

KIND = "it_project_acceptance"
SUBJECT_TYPE = "it_project"
NAME_MAX = 200
MAX_LINES = 200
CLOUD_KINDS = (OrgKind.DEPARTMENT.value, OrgKind.PUBLIC_SERVICE_ORG.value)


@dataclass(frozen=True)
class Missing:
    """R8: one thing missing before acceptance: an entry not compiled, not published, or without data."""

    code: str  # it_project.not_compiled, it_project.not_published, it_project.no_data
    what: str  # the resource code, or the planned entry's name
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Reason:
    """Why a department is (not yet) eligible to use the government cloud (R8)."""

    code: str
    zh: str
    en: str


def _lines(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _entry(session: Session, code: str) -> CatalogEntry | None:
    return session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == code))


def _outputs(session: Session, org: Organisation, actor: Actor, values: list[str]) -> list[dict[str, str]]:
    """R8: an output is an existing entry of the department (by resource code) or a planned entry's name."""
    out: list[dict[str, str]] = []
    for i, value in enumerate(values):
        if RESOURCE_CODE.match(value):
            entry = _entry(session, value)
            if entry is None or not (
                entry.provider_org_id == org.id or actor.acts_for(entry.provider_org_id)
            ):
                raise ValidationFailed(
                    "it_project.output_unknown",
                    f"目录 {value} 不存在或不由本部门提供",
                    f"Entry {value} does not exist or is not provided by the department",
                    field=f"outputs[{i}]",
                )
            out.append({"resource_code": value})
        elif len(value) > NAME_MAX:
            raise ValidationFailed(
                "it_project.output_name_too_long",
                f"计划编制的目录名称不超过{NAME_MAX}字",
                f"A planned entry's name has at most {NAME_MAX} characters",
                field=f"outputs[{i}]",
            )
        else:
            out.append({"planned_name": value})
    return out


def _needs(session: Session, values: list[str]) -> list[str]:
    """R8: the data needs are published catalog entries (the data the project will use)."""
    for i, code in enumerate(values):
        entry = _entry(session, code)
        if entry is None or entry.status != "published":
            raise ValidationFailed(
                "it_project.need_unknown",
                f"数据需求中的目录 {code} 不存在或未发布",
                f"Data need {code} is not a published catalog entry",
                field=f"data_needs[{i}]",
            )
    return values


def register_project(
    session: Session,
    actor: Actor,
    *,
    name: str,
    org_id: int | None = None,
    outputs: list[str],
    data_needs: list[str],
    description: str = "",
) -> ITProject:
    """R8: register a government IT project with the entries it will produce and its data needs."""
    org = session.get(Organisation, org_id if org_id is not None else actor.org_id or 0)
    if org is None or org.kind not in CLOUD_KINDS:
        raise ValidationFailed(
            "it_project.org_unknown", "没有该建设单位", "No such department", field="org_id"
        )
    require(session, actor, Action.CATALOG_COMPILE, org_id=org.id)
    title = (name or "").strip()
    if not title or len(title) > NAME_MAX:
        raise ValidationFailed(
            "it_project.name_required",
            f"请填写项目名称（不超过{NAME_MAX}字）",
            f"A project name is required (at most {NAME_MAX} characters)",
            field="name",
        )
    out_values, need_values = _lines(outputs), _lines(data_needs)
    if not out_values or len(out_values) > MAX_LINES or len(need_values) > MAX_LINES:
        raise ValidationFailed(
            "it_project.outputs_required",
            f"请登记项目将产生的数据目录（1至{MAX_LINES}条）",
            f"Register the catalog entries the project will produce (1 to {MAX_LINES})",
            field="outputs",
        )
    project = ITProject(
        name=title,
        org_id=org.id,
        description=(description or "").strip(),
        outputs=_outputs(session, org, actor, out_values),
        data_needs=_needs(session, need_values),
        status="registered",
        registered_by_user_id=actor.user_id,
    )
    session.add(project)
    session.flush()
    record(
        session,
        actor,
        "it_project.register",
        object_type=SUBJECT_TYPE,
        object_id=project.id,
        detail={"name": title, "outputs": project.outputs, "data_needs": project.data_needs},
    )
    return project


def get_project(session: Session, actor: Actor, project_id: int) -> ITProject:
    """A project, for its department (and the departments it acts for) and the authority."""
    project = session.get(ITProject, project_id)
    if project is None or not (
        actor.acts_for(project.org_id) or decide(session, actor, Action.CATALOG_REVIEW).allowed
    ):
        raise NotFound("it_project.not_found", f"没有项目 {project_id}", f"No IT project {project_id}")
    return project


def list_projects(session: Session, actor: Actor) -> list[ITProject]:
    query = select(ITProject).order_by(ITProject.id.desc())
    if not decide(session, actor, Action.CATALOG_REVIEW).allowed:
        query = query.where(ITProject.org_id.in_({actor.org_id or 0, *actor.managed_org_ids}))
    return list(session.scalars(query))


def _planned(session: Session, project: ITProject, name: str) -> CatalogEntry | None:
    """A planned entry is compiled once the department (or one it manages) has an entry of that name."""
    managed = select(Organisation.id).where(Organisation.parent_id == project.org_id)
    return session.scalar(
        select(CatalogEntry)
        .where(
            CatalogEntry.name == name,
            (CatalogEntry.provider_org_id == project.org_id) | CatalogEntry.provider_org_id.in_(managed),
        )
        .order_by((CatalogEntry.status != "published"), CatalogEntry.id)
        .limit(1)
    )


def acceptance_check(session: Session, project: ITProject) -> list[Missing]:
    """R8: what is missing before acceptance: entries not compiled or not published, and entries whose
    data has not been aggregated into the platform (the data store answers)."""
    missing: list[Missing] = []
    for output in project.outputs:
        code = output.get("resource_code")
        entry = _entry(session, code) if code else _planned(session, project, output["planned_name"])
        if entry is None:
            name = output["planned_name"]
            missing.append(
                Missing(
                    "it_project.not_compiled",
                    name,
                    f"计划产生的目录“{name}”尚未编制",
                    f"The planned entry “{name}” has not been compiled",
                )
            )
            continue
        label = f"{entry.resource_code}（{entry.name}）"
        if entry.status != "published":
            missing.append(
                Missing(
                    "it_project.not_published",
                    entry.resource_code,
                    f"目录 {label} 尚未发布",
                    f"Entry {entry.resource_code} ({entry.name}) is not published",
                )
            )
        elif not store.has_data(session, entry.resource_code):
            missing.append(
                Missing(
                    "it_project.no_data",
                    entry.resource_code,
                    f"目录 {label} 尚未汇聚数据",
                    f"No data of entry {entry.resource_code} ({entry.name}) has been aggregated",
                )
            )
    return missing


def request_acceptance(session: Session, actor: Actor, project_id: int) -> Case:
    """R8: ask the authority to check the project before acceptance — refused while anything is missing."""
    project = get_project(session, actor, project_id)
    require(session, actor, Action.CATALOG_COMPILE, org_id=project.org_id)
    if project.status in ("acceptance_requested", "accepted"):
        raise Conflict(
            "it_project.acceptance_open",
            "该项目已申请验收核查或已通过",
            "The project's acceptance check is already requested or passed",
        )
    missing = acceptance_check(session, project)
    if missing:
        raise Conflict(
            "it_project.acceptance_blocked",
            f"项目验收前须编制目录并汇聚数据（R8），尚缺 {len(missing)} 项：{missing[0].zh}",
            f"Before acceptance the entries must be compiled and their data aggregated (R8); "
            f"{len(missing)} missing: {missing[0].en}",
            details={"missing": [m.to_dict() for m in missing]},
        )
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"信息化项目验收核查：{project.name}",
        title_en=f"IT project acceptance check: {project.name}",
        subject_type=SUBJECT_TYPE,
        subject_id=project.id,
        payload={"outputs": project.outputs, "data_needs": project.data_needs},
        applicant_org_id=project.org_id,
    )
    project.status, project.acceptance_case_id, project.updated_at = "acceptance_requested", case.id, now()
    session.flush()
    record(
        session,
        actor,
        "it_project.request_acceptance",
        object_type=SUBJECT_TYPE,
        object_id=project.id,
        detail={"case": case.number},
    )
    return case


def _case_project(session: Session, case: Case) -> ITProject | None:
    if case.subject_type != SUBJECT_TYPE or not case.subject_id.isdigit():
        return None
    project = session.get(ITProject, int(case.subject_id))
    return project if project is not None and project.acceptance_case_id == case.id else None


@on_closed(KIND)
def _acceptance_closed(session: Session, case: Case) -> None:
    """R8: the authority's check passed or refused."""
    project = _case_project(session, case)
    if project is not None:
        project.status = "accepted" if case.status == "approved" else "acceptance_refused"
        project.updated_at = now()
        record(
            session,
            None,
            f"it_project.{project.status}",
            object_type=SUBJECT_TYPE,
            object_id=project.id,
            detail={"case": case.number},
        )


@on_step_done(KIND)
def _acceptance_returned(session: Session, case: Case, step: Step) -> None:
    """R8: a returned request goes back to the department."""
    project = _case_project(session, case)
    if project is not None and step.decision == "return":
        project.status, project.updated_at = "registered", now()


def cloud_eligibility(session: Session, org: Organisation) -> tuple[bool, Reason]:
    """R8: a department uses the government cloud only once it has compiled its catalog (at least one
    published entry)."""
    published = int(
        session.scalar(
            select(func.count(CatalogEntry.id)).where(
                CatalogEntry.provider_org_id == org.id, CatalogEntry.status == "published"
            )
        )
        or 0
    )
    if published == 0:
        return False, Reason(
            "cloud.no_catalog",
            "尚未发布任何数据目录，暂不具备使用政务云的条件",
            "No published catalog entry yet: not eligible to use the government cloud",
        )
    return True, Reason(
        "cloud.catalog_compiled",
        f"已发布 {published} 条数据目录",
        f"{published} published catalog entr{'y' if published == 1 else 'ies'}",
    )


def cloud_overview(session: Session) -> list[dict[str, Any]]:
    """R8: every department and public service organisation with its government-cloud eligibility."""
    orgs = session.scalars(
        select(Organisation)
        .where(Organisation.kind.in_(CLOUD_KINDS), Organisation.active.is_(True))
        .order_by(Organisation.kind, Organisation.code)
    )
    out = []
    for org in orgs:
        eligible, reason = cloud_eligibility(session, org)
        out.append({"org": org, "eligible": eligible, "reason": reason})
    return out
