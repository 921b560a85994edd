"""R5: which role may perform which administrative action, and over which organisations.

Permissions are data: one table from role to actions, with the scope the role has (its own organisation,
the organisations it manages, or the whole platform when held at the authority or the operator).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gongshu.kernel.identity.models import GOVERNMENT_KINDS, OrgKind, Role


class Action(enum.StrEnum):
    POLICY_LOAD = "policy.load"
    CALENDAR_LOAD = "calendar.load"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    CATALOG_COMPILE = "catalog.compile"
    CATALOG_REVIEW = "catalog.review"
    DATA_INGEST = "data.ingest"
    DATA_MANAGE = "data.manage"
    SHARING_APPLY = "sharing.apply"
    SHARING_REVIEW = "sharing.review"
    GRANT_REVOKE = "grant.revoke"
    OPEN_PRE_REVIEW = "open.pre_review"
    OPEN_APPLY = "open.apply"
    OBJECTION_FILE = "objection.file"
    SUPERVISE = "supervise"
    EMERGENCY_MANAGE = "emergency.manage"
    # R9 R13 R26–R28: read, without acting, the aggregation's reports — data freshness, the quality scores
    # and a resource's problems, its batches and their reports. Every role that reads them holds it: the
    # provider's data officers (their organisations), the authority's supervisors (every provider) and the
    # auditors — of the authority or the operator for every provider, of a department for its own.
    DATA_REPORTS_READ = "data.reports_read"
    # R11 R12 R28: read the base data coverage (which statutory base resources are catalogued, aggregated
    # and fresh) — a city-wide report for the staff of the departments, the authority and the operator,
    # never for the public's accounts.
    BASE_COVERAGE_READ = "base.coverage_read"


PLATFORM_KINDS = frozenset({OrgKind.AUTHORITY, OrgKind.OPERATOR})


@dataclass(frozen=True)
class Permission:
    action: Action
    # Where the role must be held for the permission to apply (None = any organisation kind).
    held_at: frozenset[OrgKind] | None = None
    # True: the permission covers every organisation; False: only the organisation it is held in
    # (and, for departments, the public service organisations they manage, R5).
    platform_wide: bool = False


# R11 R12 R28: every role held in a government organisation (a department, a public service
# organisation, the authority, the operator, the municipal government) reads the base data coverage.
BASE_COVERAGE = Permission(Action.BASE_COVERAGE_READ, GOVERNMENT_KINDS, True)

ROLE_PERMISSIONS: dict[Role, tuple[Permission, ...]] = {
    Role.ADMIN: (
        Permission(Action.POLICY_LOAD, PLATFORM_KINDS, True),
        Permission(Action.CALENDAR_LOAD, PLATFORM_KINDS, True),
        Permission(Action.USER_MANAGE, PLATFORM_KINDS, True),
        Permission(Action.AUDIT_READ, PLATFORM_KINDS, True),
        Permission(Action.SUPERVISE, PLATFORM_KINDS, True),
        Permission(Action.EMERGENCY_MANAGE, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.DATA_REPORTS_READ, PLATFORM_KINDS, True),
        BASE_COVERAGE,
    ),
    Role.ORG_ADMIN: (Permission(Action.USER_MANAGE), BASE_COVERAGE),
    Role.AUDITOR: (
        Permission(Action.AUDIT_READ, PLATFORM_KINDS, True),
        Permission(Action.AUDIT_READ),
        # R26–R28: the auditor supervises read-only — the aggregation's reports, never an upload or a ruling.
        Permission(Action.DATA_REPORTS_READ, PLATFORM_KINDS, True),
        Permission(Action.DATA_REPORTS_READ),
        BASE_COVERAGE,
    ),
    Role.CATALOG_OFFICER: (Permission(Action.CATALOG_COMPILE), BASE_COVERAGE),
    Role.DATA_OFFICER: (
        Permission(Action.DATA_INGEST),
        Permission(Action.DATA_MANAGE),
        Permission(Action.SHARING_APPLY),
        Permission(Action.GRANT_REVOKE),
        Permission(Action.DATA_REPORTS_READ),
        BASE_COVERAGE,
    ),
    Role.REVIEWER: (
        Permission(Action.CATALOG_REVIEW, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.SHARING_REVIEW, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.GRANT_REVOKE, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.SUPERVISE, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.DATA_REPORTS_READ, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.SHARING_REVIEW),
        BASE_COVERAGE,
    ),
    Role.PRE_REVIEWER: (
        Permission(Action.OPEN_PRE_REVIEW, frozenset({OrgKind.OPERATOR}), True),
        BASE_COVERAGE,
    ),
    Role.COORDINATOR: (
        Permission(Action.SUPERVISE, frozenset({OrgKind.AUTHORITY}), True),
        Permission(Action.DATA_REPORTS_READ, frozenset({OrgKind.AUTHORITY}), True),
        BASE_COVERAGE,
    ),
    Role.DECISION_MAKER: (BASE_COVERAGE,),
    Role.PUBLIC: (Permission(Action.OPEN_APPLY), Permission(Action.OBJECTION_FILE)),
}


def held_anywhere(roles: set[str], org_kind: str | None, action: Action) -> bool:
    """R5: whether roles held in an organisation of this kind give the action over at least one
    organisation — what a page's menu asks before it offers a link; every page still asks the access
    decision point for the organisation it shows."""
    for name in roles:
        try:
            role = Role(name)
        except ValueError:
            continue
        for p in ROLE_PERMISSIONS.get(role, ()):
            if p.action == action and (p.held_at is None or (org_kind is not None and org_kind in p.held_at)):
                return True
    return False
