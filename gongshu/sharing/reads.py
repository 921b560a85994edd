"""R26: every data read is audited — who, which organisation, which grant and scenario, which resource,
how many records, and the keys of the records returned (hashed, for the data tracker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from gongshu.catalog.data_view import subject_key_items
from gongshu.kernel.access.service import DataDecision
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import EntrySpec, entry_spec, record_entry, subject_hashes
from gongshu.kernel.identity.actor import Actor


def subject_keys_of(rows: Iterable[Mapping[str, Any]], key_items: Sequence[str]) -> list[str]:
    """R26: the subject keys (ID numbers, USCCs) of the records returned, as the audit records them."""
    return [str(r[k]) for r in rows for k in key_items if r.get(k)]


def read_entry_spec(
    actor: Actor,
    resource_code: str,
    decision: DataDecision,
    records: int,
    *,
    method: str,
    path: str = "",
    detail: dict[str, Any] | None = None,
    hashed_subjects: Sequence[str],
) -> EntrySpec:
    """R26: the audit entry of an allowed read of `records` records (`hashed_subjects`: the keys of the
    records returned, hashed by `subject_hashes`): what `audit_read` records, built without the database so
    that a caller may hand it to the audit writer (`submit_entry`)."""
    return entry_spec(
        actor,
        "data.read",
        object_type="resource",
        object_id=resource_code,
        grant_id=decision.grant_id,
        scenario=decision.scenario,
        hashed_subjects=hashed_subjects,
        detail={
            "method": method,
            "path": path,
            "basis": decision.basis,
            "records": records,
            "items": list(decision.items),
            **(detail or {}),
        },
    )


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
    key_items: Sequence[str] | None = None,
    hashed_subjects: Sequence[str] | None = None,
) -> AuditEntry:
    """R26: record an allowed read (in the caller's transaction) with the subject keys of the rows returned
    (`key_items`: the resource's subject key items, when the caller has them from the same catalog view as
    its decision; else read from the catalog). `hashed_subjects`: those keys already hashed
    (`subject_keys_of`, then `kernel.audit.service.subject_hashes`), when the caller hashed them before.
    The entry is `read_entry_spec`'s."""
    rows = list(rows)
    if hashed_subjects is None:
        if key_items is None:
            key_items = subject_key_items(session, resource_code)
        hashed_subjects = subject_hashes(subject_keys_of(rows, key_items))
    spec = read_entry_spec(
        actor,
        resource_code,
        decision,
        len(rows),
        method=method,
        path=path,
        detail=detail,
        hashed_subjects=hashed_subjects,
    )
    return record_entry(session, spec)
