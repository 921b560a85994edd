"""The audit log: append-only, each entry chained to the previous one by SM3.

`record` is called inside the command's own transaction, so an entry exists exactly when the write does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import hmac_sm3_hex, sm3_hex
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now

GENESIS = "0" * 64
_LOCK_KEY = 0x6A5E_A0D1  # PostgreSQL advisory lock serialising the chain head


def canonical(entry: AuditEntry) -> bytes:
    """The exact bytes an entry's hash covers (every field but the hash itself)."""
    body = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_user_id": entry.actor_user_id,
        "actor_label": entry.actor_label,
        "actor_org_id": entry.actor_org_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "grant_id": entry.grant_id,
        "scenario": entry.scenario,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "subject_keys": entry.subject_keys,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def subject_hash(key: str, secret: bytes | None = None) -> str:
    """R26 data tracker: the keyed hash under which a person's ID number / a USCC is recorded (`secret`:
    the platform secret key, when the caller hashes many keys)."""
    secret = get_settings().resolved_secret_key().encode() if secret is None else secret
    return hmac_sm3_hex(secret, key.strip().upper().encode())


def subject_hashes(keys: Iterable[str]) -> list[str]:
    """R26: the sorted, distinct keyed hashes of subject keys, as an entry records them (a caller that
    appends through the audit writer hashes them before, outside the writer's transaction)."""
    secret = get_settings().resolved_secret_key().encode()
    return sorted({subject_hash(k, secret) for k in keys if k})


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = "ok",
    grant_id: int | None = None,
    scenario: str | None = None,
    detail: dict[str, Any] | None = None,
    subject_keys: list[str] | None = None,
    hashed_subjects: Sequence[str] | None = None,
) -> AuditEntry:
    """Append one entry to the chain (within the caller's transaction). `hashed_subjects`: the subject
    keys already hashed by `subject_hashes`, in place of `subject_keys`."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq = (last[0] + 1) if last else 1
    prev = last[1] if last else GENESIS
    at = now().replace(microsecond=now().microsecond)
    hashes = list(hashed_subjects) if hashed_subjects is not None else subject_hashes(subject_keys or [])
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_user_id=actor.user_id if actor else None,
        actor_label=(actor.username if actor else "system"),
        actor_org_id=actor.org_id if actor else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        grant_id=grant_id,
        scenario=scenario,
        outcome=outcome,
        detail=json.loads(json.dumps(detail or {}, ensure_ascii=False, default=str)),
        subject_keys=hashes,
        prev_hash=prev,
        entry_hash="",
    )
    entry.entry_hash = sm3_hex(canonical(entry))
    session.add(entry)
    session.flush()  # R26: the subjects' index is derived from the entry later (`audit.subjects`)
    return entry
