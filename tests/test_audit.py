"""The audit log's SM3 hash chain (R26–R28): tampering is detected; search and export for supervision."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gongshu.kernel import timeutil
from gongshu.kernel.audit import query
from gongshu.kernel.audit.cli import app
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import canonical, record
from gongshu.kernel.audit.verify import verify_chain, verify_jsonl
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor

T = AuditEntry.__table__
OFFICER = Actor(user_id=7, username="li.wei", org_id=3, via="session")
PERSON = "11010519491231002X"


def _log(session: Session, n: int = 10) -> list[AuditEntry]:
    entries = []
    for i in range(n):
        actor = OFFICER if i % 2 else SYSTEM
        entries.append(
            record(
                session,
                actor,
                "sharing.read" if i % 3 == 0 else "catalog.update",
                object_type="resource",
                object_id=i,
                detail={"rows": i, "字段": ["姓名"]},
                subject_keys=[PERSON] if i == 3 else None,
            )
        )
    session.commit()
    return entries


def _row(session: Session, seq: int) -> dict[str, Any]:
    return dict(session.execute(select(T).where(T.c.seq == seq)).one()._mapping)


def _tamper(session: Session, statement: Any) -> None:
    session.execute(statement)
    session.commit()


def test_r26_intact_chain_verifies(session: Session) -> None:
    entries = _log(session)
    result = verify_chain(session, chunk=3)  # several chunks
    assert result.ok and result.checked == 10 and result.first_bad_seq is None
    assert result.problem_code == "audit.ok" and "10" in result.message_en
    assert (result.last_seq, result.head_hash) == (10, entries[-1].entry_hash)


def test_r26_edited_entry_is_detected(session: Session) -> None:
    _log(session)
    _tamper(session, text("UPDATE audit_entry SET outcome = 'denied' WHERE seq = 4"))
    result = verify_chain(session)
    assert not result.ok and result.first_bad_seq == 4 and result.problem_code == "audit.hash_mismatch"


def test_r26_edit_with_a_recomputed_hash_breaks_the_next_link(session: Session) -> None:
    _log(session)
    session.execute(text("UPDATE audit_entry SET object_id = 'other' WHERE seq = 4"))
    forged = session.get(AuditEntry, 4)
    assert forged is not None
    session.refresh(forged)
    _tamper(session, update(T).where(T.c.seq == 4).values(entry_hash=sm3_hex(canonical(forged))))
    result = verify_chain(session)
    assert result.first_bad_seq == 5 and result.problem_code == "audit.broken_link"


def test_r26_deleted_entry_is_detected(session: Session) -> None:
    _log(session)
    _tamper(session, text("DELETE FROM audit_entry WHERE seq = 5"))
    result = verify_chain(session)
    assert not result.ok and result.first_bad_seq == 5 and result.problem_code == "audit.seq_gap"
    assert result.checked == 4


def test_r26_inserted_entry_is_detected(session: Session) -> None:
    """A forger shifts entries 6.. up by one and inserts a well-formed entry 6 linked to entry 5."""
    _log(session)
    _tamper(session, update(T).where(T.c.seq > 5).values(seq=T.c.seq + 1000))
    _tamper(session, update(T).where(T.c.seq > 1000).values(seq=T.c.seq - 999))
    fake = AuditEntry(
        **(_row(session, 5) | {"seq": 6, "object_id": "forged", "prev_hash": _row(session, 5)["entry_hash"]})
    )
    fake.entry_hash = sm3_hex(canonical(fake))
    _tamper(session, insert(T).values({c.name: getattr(fake, c.name) for c in T.columns}))
    result = verify_chain(session)
    assert not result.ok and result.first_bad_seq == 7 and result.problem_code == "audit.hash_mismatch"


def test_r26_entry_out_of_sequence_is_detected(session: Session) -> None:
    _log(session, 3)
    _tamper(session, insert(T).values(_row(session, 1) | {"seq": 0}))
    result = verify_chain(session)
    assert result.first_bad_seq == 0 and result.problem_code == "audit.seq_order"


def test_r26_reordered_entries_are_detected(session: Session) -> None:
    _log(session)
    three, four = _row(session, 3), _row(session, 4)
    _tamper(session, update(T).where(T.c.seq == 3).values({k: v for k, v in four.items() if k != "seq"}))
    _tamper(session, update(T).where(T.c.seq == 4).values({k: v for k, v in three.items() if k != "seq"}))
    result = verify_chain(session)
    assert result.first_bad_seq == 3 and result.problem_code == "audit.hash_mismatch"


def test_r26_swapped_sequence_numbers_are_detected(session: Session) -> None:
    _log(session)
    _tamper(session, update(T).where(T.c.seq == 7).values(seq=-7))
    _tamper(session, update(T).where(T.c.seq == 8).values(seq=7))
    _tamper(session, update(T).where(T.c.seq == -7).values(seq=8))
    result = verify_chain(session)
    assert result.first_bad_seq == 7 and result.problem_code == "audit.hash_mismatch"


def test_r26_truncated_tail_needs_an_anchor(session: Session) -> None:
    """A chain alone cannot see its newest entries removed; an anchor recorded earlier can."""
    _log(session)
    head = verify_chain(session)
    anchor = (int(head.last_seq or 0), str(head.head_hash))
    _tamper(session, delete(T).where(T.c.seq > 8))
    assert verify_chain(session).ok
    result = verify_chain(session, anchor=anchor)
    assert not result.ok and result.problem_code == "audit.truncated" and result.first_bad_seq == 9


def test_r26_rewritten_chain_breaks_the_anchor(session: Session) -> None:
    _log(session)
    head = verify_chain(session)
    anchor = (int(head.last_seq or 0), str(head.head_hash))
    _tamper(session, text("UPDATE audit_entry SET actor_label = 'nobody' WHERE seq = 9"))
    prev = _row(session, 8)["entry_hash"]
    for seq in (9, 10):  # the forger recomputes every later hash
        session.execute(update(T).where(T.c.seq == seq).values(prev_hash=prev))
        entry = session.get(AuditEntry, seq)
        assert entry is not None
        session.refresh(entry)
        prev = sm3_hex(canonical(entry))
        session.execute(update(T).where(T.c.seq == seq).values(entry_hash=prev))
    session.commit()
    assert verify_chain(session).ok
    result = verify_chain(session, anchor=anchor)
    assert result.problem_code == "audit.anchor_mismatch" and result.first_bad_seq == 10


def test_r26_cli_audit_verify(session: Session) -> None:
    _log(session)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0 and "10" in ok.stdout
    _tamper(session, text("UPDATE audit_entry SET action = 'catalog.delete' WHERE seq = 6"))
    bad = runner.invoke(app, ["verify"])
    assert bad.exit_code == 1 and "entry 6" in bad.stdout
    as_json = json.loads(runner.invoke(app, ["verify", "--json"]).stdout)
    assert as_json["first_bad_seq"] == 6 and as_json["problem"] == "audit.hash_mismatch"


def test_r26_search_filters_and_pages(session: Session) -> None:
    timeutil.freeze(dt.datetime(2024, 6, 1, 9, 0))
    _log(session, 6)
    timeutil.freeze(dt.datetime(2024, 6, 3, 9, 0))
    record(session, OFFICER, "sharing%read", outcome="denied", object_type="resource", object_id="r9")
    session.commit()
    rows, total = query.search(session, limit=2)
    assert total == 7 and [r.seq for r in rows] == [7, 6]
    assert query.search(session, limit=2, offset=6)[0][0].seq == 1
    assert query.search(session, actor="li.wei")[1] == 4
    assert query.search(session, org_id=3, outcome="denied")[1] == 1
    assert query.search(session, action_prefix="sharing.")[1] == 2  # '%' in the prefix is no wildcard
    assert query.search(session, action_prefix="sharing%")[1] == 1
    assert query.search(session, object_type="resource", object_id="3")[0][0].seq == 4
    assert query.search(session, since=dt.date(2024, 6, 2))[1] == 1
    assert query.search(session, until=dt.date(2024, 6, 1))[1] == 6
    assert query.search(session, since=dt.datetime(2024, 6, 1, 9, 0, tzinfo=timeutil.CHINA))[1] == 7
    assert [r.seq for r in query.search(session, subject=PERSON)[0]] == [4]
    assert query.search(session, subject="110105491231002")[1] == 1  # the legacy form of the same person


@pytest.mark.parametrize(
    "bad",
    [
        {"outcome": "maybe"},
        {"limit": 0},
        {"offset": -1},
        {"since": dt.date(2024, 6, 2), "until": dt.date(2024, 6, 1)},
        {"colour": "red"},
    ],
)
def test_r26_search_refuses_invalid_filters(session: Session, bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        query.search(session, **bad)


def test_r26_export_csv_and_jsonl(session: Session) -> None:
    _log(session)
    buffer = io.StringIO()
    assert query.export_csv(session, buffer, action_prefix="sharing.") == 4
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [r["seq"] for r in rows] == ["1", "4", "7", "10"] and json.loads(rows[1]["detail"])["字段"] == [
        "姓名"
    ]
    assert rows[1]["subject_keys"] != "[]" and PERSON not in buffer.getvalue()  # keyed hashes, never in clear
    lines = io.StringIO()
    assert query.export_jsonl(session, lines, chunk=4) == 10
    exported = lines.getvalue().splitlines()
    assert verify_jsonl(exported).ok
    changed = json.loads(exported[2]) | {"outcome": "error"}
    exported[2] = json.dumps(changed, ensure_ascii=False)
    assert verify_jsonl(exported).first_bad_seq == 3


def test_r26_cli_audit_export(session: Session, tmp_path: Any) -> None:
    _log(session)
    runner = CliRunner()
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["export", "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 10
    assert runner.invoke(app, ["verify", "--file", str(out)]).exit_code == 0
    csv_out = tmp_path / "audit.csv"
    assert runner.invoke(app, ["export", "--out", str(csv_out), "--actor", "li.wei"]).exit_code == 0
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 1 + 5
    assert runner.invoke(app, ["export", "--out", str(csv_out), "--outcome", "maybe"]).exit_code == 2
