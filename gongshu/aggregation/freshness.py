"""R9: departments may not interrupt updates at will. From each published entry's update cycle (policy
`update_cycles.interval_days`) and the store's last successful load comes the date the next update is
expected by; a resource past it is interrupted, and its provider's data officers and the authority are
alarmed once (again only after it was fresh in between).

The last update is the last LOAD — a committed batch of an upload, a push or a pull
(`StoreResource.last_loaded_at`). A correction of a record (R14: an objection upheld, executed through
the store as a one-row batch) is not a feed update and does not move it, so that it cannot hide an
interrupted feed. A published resource never loaded is expected by its publication plus one cycle;
past that, it is interrupted like any other (and alarmed once).

Only a resource that is still to be kept up has an expected next update. One that is not is never
interrupted and never alarmed (R9, R21):

- its catalog entry is withdrawn (R9) — it is not a published resource, so it is not listed at all;
- it holds the data collected for an emergency that is closed (R21: the collection ended with the
  response, its data was deleted or de-identified) — listed as "no update expected";
- its update cycle is one the policy does not schedule — unknown to the policy in force (a cycle of an
  earlier policy version) or without an interval (a one-off or irregular cycle) — listed the same way,
  rather than expected again after a default day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.pull_models import FreshnessAlarm
from gongshu.catalog.data_view import published_entries
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.policy import service as policy
from gongshu.kernel.timeutil import now
from gongshu.kernel.workflow.notify import notify
from gongshu.store.models import StoreResource

STATES = ("interrupted", "never_loaded", "due_soon", "fresh", "not_expected")
# Why a resource has no expected next update (R9 R21): its emergency is closed, or its cycle is unscheduled.
NOT_EXPECTED = ("emergency_closed", "unscheduled")
DUE_SOON_SHARE = 0.2  # the last fifth of a cycle is shown as "due soon" (a display choice, not a rule)


@dataclass(frozen=True)
class FreshnessRow:
    """R9: one published resource's freshness."""

    resource_code: str
    name: str
    name_en: str
    provider_org_id: int
    provider: str
    provider_en: str
    cycle: str
    interval_days: int
    last_update: dt.datetime | None
    expected_by: dt.datetime | None
    state: str
    cycle_zh: str = ""  # the update cycle's label in the policy (the page shows it, not the code)
    cycle_en: str = ""
    not_expected: str = ""  # why no update is expected (one of NOT_EXPECTED), when state is "not_expected"

    def cycle_label(self, lang: str) -> str:
        """R9: the update cycle as the policy names it in the page's language (its code if unlabelled)."""
        return (self.cycle_zh if lang == "zh" else self.cycle_en) or self.cycle


def _china(at: dt.datetime | None) -> str:
    from gongshu.web.render import china  # the pages' one formatter of instants (China time)

    return china(at)


def _state(last: dt.datetime | None, expected_by: dt.datetime | None, interval: int, at: dt.datetime) -> str:
    """R9: fresh, due soon (last fifth of the cycle), interrupted (past the expected date — the next load's,
    or a never-loaded resource's first load: publication plus one cycle), never loaded (not yet due)."""
    if expected_by is not None and at > expected_by:
        return "interrupted"
    if last is None:
        return "never_loaded"
    assert expected_by is not None
    if at > expected_by - dt.timedelta(days=interval * DUE_SOON_SHARE):
        return "due_soon"
    return "fresh"


def closed_emergency_resources(session: Session) -> set[str]:
    """R21: the resources holding the data collected for an emergency that is closed — the collection ended
    with the response; nothing more is expected of them (read from the emergency's own records)."""
    from gongshu.sharing.emergency_models import EmergencyEvent, EmergencyResource

    stmt = (
        select(EmergencyResource.resource_code)
        .join(EmergencyEvent, EmergencyEvent.id == EmergencyResource.event_id)
        .where(EmergencyEvent.status == "closed")
    )
    return set(session.scalars(stmt))


def _interval(cycle: object | None) -> int | None:
    """R9: the days between two updates of a policy cycle; None when the policy does not schedule it (an
    unknown cycle, or one without an interval: one-off or irregular)."""
    days = getattr(cycle, "interval_days", None) if cycle is not None else None
    return int(days) if days else None


def freshness(session: Session, org_ids: frozenset[int] | None = None) -> list[FreshnessRow]:
    """R9: every published resource (of `org_ids`, None for all) with its cycle, last successful load,
    expected next update and state — interrupted first, then never loaded, due soon, fresh, and last those
    with no update expected (a closed emergency's, an unscheduled cycle's: never interrupted)."""
    cycles = policy.at(session).doc.update_cycles
    at = now()
    entries = published_entries(session, provider_org_ids=org_ids)
    stores = session.execute(select(StoreResource.resource_code, StoreResource.last_loaded_at))
    loaded = {code: at for code, at in stores}
    closed = closed_emergency_resources(session)
    provider_ids = {e.provider_org_id for e in entries}
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(provider_ids)))}
    rows: list[FreshnessRow] = []
    for entry in entries:
        org = orgs.get(entry.provider_org_id)
        if org is None:  # no such provider: not a resource anyone answers for
            continue
        last = loaded.get(entry.resource_code)
        cycle = cycles.get(entry.update_cycle)
        interval = _interval(cycle)
        why = ""
        if entry.resource_code in closed:
            why = "emergency_closed"
        elif interval is None:
            why = "unscheduled"
        base = last if last is not None else entry.published_at
        expected = base + dt.timedelta(days=interval) if base is not None and interval and not why else None
        rows.append(
            FreshnessRow(
                resource_code=entry.resource_code,
                name=entry.name,
                name_en=entry.name_en or entry.name,  # R28: an entry without an English name shows its name
                provider_org_id=org.id,
                provider=org.name_zh,
                provider_en=org.name_en or org.name_zh,
                cycle=entry.update_cycle,
                interval_days=interval or 0,
                last_update=last,
                expected_by=expected,
                state="not_expected" if why else _state(last, expected, interval or 0, at),
                cycle_zh=cycle.zh if cycle is not None else "",
                cycle_en=cycle.en if cycle is not None else "",
                not_expected=why,
            )
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (STATES.index(r.state), r.expected_by or far, r.resource_code))
    return rows


def visible_orgs(session: Session, actor: Actor) -> frozenset[int] | None:
    """R9 R26–R28: those who read the reports of every provider (the access decision point's
    DATA_REPORTS_READ, platform-wide: the authority's supervisors, the auditors of the authority and of the
    operator) and the operator see every resource; a department sees its own (and those of the public
    service organisations it manages); the public sees none."""
    if (
        decide(session, actor, Action.DATA_REPORTS_READ).org_scope is None
        or actor.org_kind == OrgKind.OPERATOR
    ):
        return None
    if actor.org_id is None or actor.org_kind in (OrgKind.PERSON, OrgKind.LEGAL_ENTITY):
        raise Forbidden(
            "freshness.forbidden",
            "只有政务部门、主管部门和运营单位可查看数据更新情况",
            "Only departments, the authority and the operator may see data freshness",
        )
    return frozenset({actor.org_id, *actor.managed_org_ids, *(o for o, _ in actor.roles)})


def _authority_users(session: Session) -> set[int]:
    orgs = session.scalars(select(Organisation.id).where(Organisation.kind == OrgKind.AUTHORITY)).all()
    return {
        u.id
        for o in orgs
        for role in ("reviewer", "admin")
        for u in identity.users_with_role(session, o, role)
    }


def _alarm_text(row: FreshnessRow, code: str, expected: str) -> tuple[str, str]:
    """R9: the alarm's words — an interrupted feed, or a published resource never loaded by its first
    expected load (publication plus one cycle)."""
    if row.last_update is None:
        return (
            f"数据资源“{row.name}”（{code}）发布后从未汇聚：应于 {expected} 前首次汇聚（更新周期 "
            f"{row.interval_days} 天）",
            f"“{row.name_en}” ({code}) has never been loaded since its publication: the first load was "
            f"expected by {expected} (cycle {row.interval_days} days)",
        )
    return (
        f"数据资源“{row.name}”（{code}）更新中断：应于 {expected} 前更新（更新周期 {row.interval_days} 天）",
        f"Updates of “{row.name_en}” ({code}) are interrupted: expected by {expected} "
        f"(cycle {row.interval_days} days)",
    )


def alarm_interrupted(session: Session) -> list[str]:
    """R9: alarm each newly interrupted resource once — to its provider's data officers and to the
    authority's reviewers and administrators; an alarm is cleared when the resource is no longer
    interrupted, so that a later interruption alarms again (the audit entry says what it is now: fresh
    again, no update expected any more, or "unpublished" when its entry was withdrawn). A resource with no
    expected next update is never alarmed. Returns the codes alarmed now."""
    states = {r.resource_code: r for r in freshness(session)}
    rows = {code: r for code, r in states.items() if r.state == "interrupted"}
    alarms = {a.resource_code: a for a in session.scalars(select(FreshnessAlarm))}
    for code, alarm in alarms.items():
        if code not in rows:
            session.delete(alarm)
            now_row = states.get(code)
            record(
                session,
                None,
                "aggregation.freshness_restored",
                object_type="resource",
                object_id=code,
                detail={
                    "state": now_row.state if now_row else "unpublished",
                    "not_expected": now_row.not_expected if now_row else "",
                },
            )
    alarmed: list[str] = []
    authority = _authority_users(session)
    for code, row in rows.items():
        if code in alarms:
            continue
        officers = {u.id for u in identity.users_with_role(session, row.provider_org_id, "data_officer")}
        expected = _china(row.expected_by)
        zh, en = _alarm_text(row, code, expected)
        notify(
            session,
            officers | authority,
            None,
            "aggregation.freshness_interrupted",
            zh,
            en,
            link="/data/freshness",
        )
        session.add(FreshnessAlarm(resource_code=code, expected_by=row.expected_by, alarmed_at=now()))
        record(
            session,
            None,
            "aggregation.freshness_alarm",
            object_type="resource",
            object_id=code,
            detail={"provider_org_id": row.provider_org_id, "expected_by": expected},
        )
        alarmed.append(code)
    session.flush()
    return alarmed
