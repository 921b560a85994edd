"""The audit log: append-only, each entry chained to the previous one by SM3.

`record` is called inside the command's own transaction, so an entry exists exactly when the write does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm import KeyedSM3, hmac_sm3_hex, sm3_hex
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now

GENESIS = "0" * 64
_TABLE = cast(Table, AuditEntry.__table__)  # a declarative class's table is a Table
_LOCK_KEY = 0x6A5E_A0D1  # PostgreSQL advisory lock serialising the chain head


_HASHED_FIELDS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_label",
    "actor_org_id",
    "action",
    "object_type",
    "object_id",
    "grant_id",
    "scenario",
    "outcome",
    "detail",
    "subject_keys",
    "prev_hash",
)


def _canonical_of(values: Mapping[str, Any]) -> bytes:
    """R26: the hashed bytes of an entry given as its fields (an ORM entry's, a row's about to be inserted,
    a row read back: `at` an aware UTC instant in each, so its ISO form is the same)."""
    body = {name: values[name] for name in _HASHED_FIELDS}
    body["at"] = values["at"].isoformat()
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def canonical(entry: AuditEntry) -> bytes:
    """R26: the exact bytes an entry's hash covers (every field but the hash itself)."""
    return _canonical_of({name: getattr(entry, name) for name in _HASHED_FIELDS})


def subject_hash(key: str, secret: bytes | None = None) -> str:
    """R26 data tracker: the keyed hash under which a person's ID number / a USCC is recorded (`secret`:
    the platform secret key, when the caller hashes many keys)."""
    secret = get_settings().resolved_secret_key().encode() if secret is None else secret
    return hmac_sm3_hex(secret, key.strip().upper().encode())


_keyed: dict[bytes, KeyedSM3] = {}


def subject_hashes(keys: Iterable[str]) -> list[str]:
    """R26: the sorted, distinct keyed hashes of subject keys, as an entry records them (a caller that
    appends through the audit writer hashes them before, outside the writer's transaction). The same
    digests as `subject_hash`, from the key's padded states computed once (`KeyedSM3`)."""
    secret = get_settings().resolved_secret_key().encode()
    keyed = _keyed.get(secret)
    if keyed is None:
        keyed = _keyed[secret] = KeyedSM3(secret)
    return sorted({keyed.hex(k.strip().upper().encode()) for k in keys if k})


@dataclass(frozen=True)
class EntrySpec:
    """R26: one audit entry to append, its fields resolved — the actor's, the object id as text, the detail
    normalised to JSON, the subject keys hashed (sorted, distinct). `append_entries` numbers, dates and
    chains it; build it with `entry_spec`."""

    action: str
    actor_user_id: int | None = None
    actor_label: str = "system"
    actor_org_id: int | None = None
    object_type: str = ""
    object_id: str = ""
    outcome: str = "ok"
    grant_id: int | None = None
    scenario: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    subject_keys: list[str] = field(default_factory=list)


class EntryFields(TypedDict, total=False):
    """R26: what a caller tells of an entry besides its actor and action (`entry_spec`, `record`).
    `hashed_subjects`: the subject keys already hashed by `subject_hashes`, in place of `subject_keys`."""

    object_type: str
    object_id: str | int
    outcome: str
    grant_id: int | None
    scenario: str | None
    detail: dict[str, Any] | None
    subject_keys: list[str] | None
    hashed_subjects: Sequence[str] | None


def entry_spec(actor: Actor | None, action: str, **fields: Unpack[EntryFields]) -> EntrySpec:
    """R26: the entry `record` appends for these fields, resolved (no database work: a caller may build
    it before handing it to the audit writer)."""
    unknown = set(fields) - set(EntryFields.__annotations__)
    if unknown:  # a misspelt field must not be dropped from the record silently
        raise TypeError(f"unknown audit entry fields: {', '.join(sorted(unknown))}")
    hashed = fields.get("hashed_subjects")
    hashes = sorted(set(hashed)) if hashed is not None else subject_hashes(fields.get("subject_keys") or [])
    return EntrySpec(
        action=action,
        actor_user_id=actor.user_id if actor else None,
        actor_label=actor.username if actor else "system",
        actor_org_id=actor.org_id if actor else None,
        object_type=fields.get("object_type", ""),
        object_id=str(fields.get("object_id", "")),
        outcome=fields.get("outcome", "ok"),
        grant_id=fields.get("grant_id"),
        scenario=fields.get("scenario"),
        detail=json.loads(json.dumps(fields.get("detail") or {}, ensure_ascii=False, default=str)),
        subject_keys=hashes,
    )


def _chain_head(session: Session) -> tuple[int, str]:
    """R26: the last entry's (seq, entry_hash), (0, GENESIS) for an empty log. Entries the session holds
    unflushed are written first; on PostgreSQL the chain's lock is taken (held to the commit), so that
    appends serialise; on SQLite the write transaction (BEGIN IMMEDIATE) already does."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS)


def _chained_rows(specs: Sequence[EntrySpec], seq: int, prev: str) -> list[dict[str, Any]]:
    """R26: the rows of `specs` appended after entry `seq` (hash `prev`): numbered, dated now, each hashed
    (`canonical`, the bytes `verify` recomputes) and linked to the one before."""
    at = now()
    rows: list[dict[str, Any]] = []
    for spec in specs:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor_user_id": spec.actor_user_id,
            "actor_label": spec.actor_label,
            "actor_org_id": spec.actor_org_id,
            "action": spec.action,
            "object_type": spec.object_type,
            "object_id": spec.object_id,
            "grant_id": spec.grant_id,
            "scenario": spec.scenario,
            "outcome": spec.outcome,
            "detail": spec.detail,
            "subject_keys": spec.subject_keys,
            "prev_hash": prev,
        }
        prev = row["entry_hash"] = sm3_hex(_canonical_of(row))
        rows.append(row)
    return rows


def append_entries(session: Session, specs: Sequence[EntrySpec]) -> list[int]:
    """R26: append `specs` to the chain, in order, within the caller's transaction: one read of the chain
    head, the hashes computed here, one multi-row INSERT (no ORM unit of work). Returns their seqs."""
    if not specs:
        return []
    seq, prev = _chain_head(session)
    rows = _chained_rows(specs, seq, prev)
    session.execute(insert(_TABLE), rows)
    return [row["seq"] for row in rows]


def record_entry(session: Session, spec: EntrySpec) -> AuditEntry:
    """R26: append one entry (within the caller's transaction) as an ORM object the caller may use."""
    seq, prev = _chain_head(session)
    entry = AuditEntry(**_chained_rows([spec], seq, prev)[0])
    session.add(entry)
    session.flush()  # R26: the subjects' index is derived from the entry later (`audit.subjects`)
    return entry


def record(session: Session, actor: Actor | None, action: str, **fields: Unpack[EntryFields]) -> AuditEntry:
    """R26: append one entry to the chain (within the caller's transaction)."""
    return record_entry(session, entry_spec(actor, action, **fields))
