"""R26: every data read is audited — who, which organisation, which grant and scenario, which resource,
how many records, and the keys of the records returned (hashed, for the data tracker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from gongshu.catalog.data_view import subject_key_items
from gongshu.kernel.access.service import DataDecision
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import record
from gongshu.kernel.identity.actor import Actor


def audit_read(
    session: Session,
    actor: Actor,
    resource_code: str,
    decision: DataDecision,
    rows: Iterable[Mapping[str, Any]],
    *,
    method: str,
    path: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record an allowed read (in the caller's transaction) with the subject keys of the rows returned."""
    rows = list(rows)
    key_items = subject_key_items(session, resource_code)
    keys = [str(r[k]) for r in rows for k in key_items if r.get(k)]
    return record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id=resource_code,
        grant_id=decision.grant_id,
        scenario=decision.scenario,
        subject_keys=keys,
        detail={
            "method": method,
            "path": path,
            "basis": decision.basis,
            "records": len(rows),
            "items": list(decision.items),
            **(detail or {}),
        },
    )
