from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.policy import service as policy


def test_r30_shipped_policy_is_loaded_and_lapses_after_its_period(session: Session) -> None:
    import datetime as dt

    p = policy.at(session, dt.date(2024, 6, 1))
    assert p.id == "xiamen-2023" and not p.lapsed
    assert p.working_days("sharing_review") == 5
    later = policy.at(session, dt.date(2026, 11, 29))
    assert later.lapsed


def test_audit_record_chains(session: Session) -> None:
    a = record(session, SYSTEM, "test.write", object_type="x", object_id=1)
    b = record(session, SYSTEM, "test.write", object_type="x", object_id=2)
    session.commit()
    assert b.prev_hash == a.entry_hash and b.seq == a.seq + 1
