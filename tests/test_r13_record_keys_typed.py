"""R13: a record named by a key that its key column cannot hold (a decimal key given as text that is no
number) is no record — never a database error on PostgreSQL, which refuses to compare a numeric column
with such text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city, write

from gongshu.kernel.db import read_scope
from gongshu.store import service as store

ITEMS: list[dict[str, Any]] = [
    {"name": "amount", "label_zh": "金额", "data_type": "decimal", "is_key": True},
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20},
]


def test_r13_a_key_its_column_cannot_hold_names_no_record(session: Session) -> None:
    c = store_city(session)
    code = publish(session, c, ITEMS, subject_kind="other").resource_code
    with read_scope() as s:
        for key in ("abc", "NaN", "Infinity", "1.5"):
            assert store.record_of(s, code, key) is None


def test_r26_a_record_look_up_is_audited_for_the_person_it_shows(
    session: Session, tmp_path: Path, db_clean: str
) -> None:
    """R26: a record keyed by a certificate number that holds a person's ID number is audited under that
    person (the ID number's keyed hash), not under the certificate number, so the person finds the
    look-up among the reads of their data."""
    from gongshu.aggregation import records
    from gongshu.aggregation.ingest import ingest_file
    from gongshu.kernel.audit.models import AuditEntry
    from gongshu.kernel.audit.service import subject_hashes
    from gongshu.kernel.db import session_scope

    c = store_city(session)
    items = [
        {"name": "cert_no", "label_zh": "证书编号", "data_type": "string", "length": 20, "is_key": True},
        {"name": "holder_id", "label_zh": "持证人身份证号码", "data_type": "id_number", "length": 18},
    ]
    code = publish(session, c, items, subject_kind="other").resource_code
    ingest_file(
        c["civil_clerk"], code, write(tmp_path, "d.csv", f"cert_no,holder_id\nC-1,{IDS[0]}\n"), url=db_clean
    )
    with session_scope() as s:
        view = records.record_view(s, c["civil_clerk"], code, "C-1")
    assert view.found
    with read_scope() as s:
        entry = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == records.AUDIT_ACTION)
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and entry.subject_keys == subject_hashes([IDS[0]])
