"""Verification of the audit log's SM3 hash chain (R26–R28: the supervision of every access rests on it).

Each entry's hash covers all its fields and the previous entry's hash, and entries are numbered 1, 2, 3…
Walking the log in sequence order therefore detects:
- an edited entry (its hash no longer matches its fields) → `audit.hash_mismatch`;
- a deleted entry (a gap in the numbering, or — if later entries were renumbered — a hash mismatch)
  → `audit.seq_gap`;
- an inserted entry (a number out of sequence, a hash that does not match, or a broken link from the entry
  after it) → `audit.seq_order`, `audit.hash_mismatch` or `audit.broken_link`;
- reordered entries (swapped numbers or swapped contents: the sequence number is hashed) → the same.

What a chain alone cannot detect: removal of the newest entries (a truncated tail looks like a shorter,
intact log), and a rewrite of the whole chain from some entry onward by someone who recomputes every later
hash. The log stores nothing extra against these; instead the verification reports the head (last sequence
number and hash) so that an operator can record it elsewhere (a report, a sealed document, a ticket) and
later pass it back as an *anchor*: an anchor that no longer matches, or that lies beyond the end of the
log, is reported as `audit.anchor_mismatch` / `audit.truncated`.

Entries are streamed in sequence order in chunks, so a log of millions of entries verifies in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import GENESIS, canonical
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import ValidationFailed

_TABLE = AuditEntry.__table__

MESSAGES: dict[str, tuple[str, str]] = {
    "audit.ok": ("审计日志完整：已核验{checked}条记录", "The audit log is intact: {checked} entries checked"),
    "audit.seq_gap": (
        "第{bad}条记录缺失（其后为第{seq}条）：有记录被删除",
        "Entry {bad} is missing (the next entry is {seq}): an entry was deleted",
    ),
    "audit.seq_order": (
        "第{seq}条记录不在应有的顺序上（应为第{expected}条）：有记录被插入或调换",
        "Entry {seq} is out of sequence (expected {expected}): an entry was inserted or moved",
    ),
    "audit.hash_mismatch": (
        "第{seq}条记录与其哈希值不符：记录被改动、调换或伪造",
        "Entry {seq} does not match its hash: it was edited, moved or forged",
    ),
    "audit.broken_link": (
        "第{seq}条记录与前一条记录的链接断开：之前的记录被替换、插入或删除",
        "Entry {seq} does not link to the entry before it: an entry before it was replaced or removed",
    ),
    "audit.anchor_mismatch": (
        "第{seq}条记录与此前记下的锚点哈希不符：日志被重写",
        "Entry {seq} differs from the anchor recorded earlier: the log was rewritten",
    ),
    "audit.truncated": (
        "日志止于第{end}条，而锚点为第{anchor}条：末尾的记录被删除",
        "The log ends at entry {end} but the anchor names entry {anchor}: entries were removed from its end",
    ),
}


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a chain verification. `last_seq`/`head_hash` name the head of the checked log (the
    anchor to record elsewhere); on failure, `first_bad_seq` is the first entry found wrong (or missing)."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem_code: str
    message_en: str
    message_zh: str
    last_seq: int | None = None
    head_hash: str | None = None


def _result(
    code: str, checked: int, bad: int | None, last: int | None, head: str | None, **kw: Any
) -> VerifyResult:
    zh, en = MESSAGES[code]
    values = {"checked": checked, "bad": bad, **kw}
    return VerifyResult(
        code == "audit.ok", checked, bad, code, en.format(**values), zh.format(**values), last, head
    )


def verify_entries(
    entries: Iterable[Any],
    *,
    anchor: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Walk entries (objects with the fields of `AuditEntry`) in the order given and check the chain.
    `anchor` is a (seq, entry_hash) pair recorded from an earlier verification."""
    expected_seq, prev_hash = 1, GENESIS
    checked, last, head = 0, None, None
    for entry in entries:
        seq = int(entry.seq)
        if seq > expected_seq:
            return _result("audit.seq_gap", checked, expected_seq, last, head, seq=seq)
        if seq < expected_seq:
            return _result("audit.seq_order", checked, seq, last, head, seq=seq, expected=expected_seq)
        checked += 1
        if sm3_hex(canonical(cast(AuditEntry, entry))) != entry.entry_hash:
            return _result("audit.hash_mismatch", checked, seq, last, head, seq=seq)
        if entry.prev_hash != prev_hash:
            return _result("audit.broken_link", checked, seq, last, head, seq=seq)
        if anchor is not None and seq == anchor[0] and entry.entry_hash != anchor[1]:
            return _result("audit.anchor_mismatch", checked, seq, last, head, seq=seq)
        expected_seq, prev_hash, last, head = seq + 1, entry.entry_hash, seq, entry.entry_hash
        if progress is not None and checked % 10_000 == 0:
            progress(checked)
    if anchor is not None and (last or 0) < anchor[0]:
        return _result(
            "audit.truncated", checked, (last or 0) + 1, last, head, end=last or 0, anchor=anchor[0]
        )
    return _result("audit.ok", checked, None, last, head)


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(_TABLE)) or 0)


def verify_chain(
    session: Session,
    *,
    anchor: tuple[int, str] | None = None,
    chunk: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Verify the whole audit log in the database, streaming entries in sequence order `chunk` at a time."""
    rows = session.execute(select(_TABLE).order_by(_TABLE.c.seq), execution_options={"yield_per": chunk})
    return verify_entries(rows, anchor=anchor, progress=progress)


def _from_json(line: str) -> SimpleNamespace:
    data = json.loads(line)
    data["at"] = dt.datetime.fromisoformat(data["at"])
    return SimpleNamespace(**data)


def verify_jsonl(lines: Iterable[str], *, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Verify an unfiltered JSON Lines export of the log (`query.export_jsonl`) away from the database."""
    return verify_entries((_from_json(line) for line in lines if line.strip()), anchor=anchor)


def parse_anchor(text: str) -> tuple[int, str]:
    """An anchor written as SEQ:HASH (as printed by `gongshu audit verify`)."""
    seq, _, digest = text.partition(":")
    if not seq.strip().isdigit() or len(digest.strip()) != 64:
        raise ValidationFailed(
            "audit.anchor_format",
            "锚点应写作“序号:哈希值”（64位十六进制）",
            "An anchor reads SEQ:HASH (64 hexadecimal digits)",
        )
    return int(seq), digest.strip().lower()
