"""R13: a record named by a key that its key column cannot hold (a decimal key given as text that is no
number) is no record — never a database error on PostgreSQL, which refuses to compare a numeric column
with such text."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from store_fixtures import publish, store_city

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
