"""Shared set-up for the store, ingestion and quality tests: a published resource keyed by ID number."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import city, marriage, user
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel import config
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.workflow import engine

ITEMS: list[dict[str, Any]] = [
    {
        "name": "id_number",
        "label_zh": "身份证号码",
        "data_type": "id_number",
        "length": 18,
        "is_key": True,
        "sensitivity": "personal",
    },
    {"name": "full_name", "label_zh": "姓名", "data_type": "string", "length": 20},
    {"name": "registered_on", "label_zh": "登记日期", "data_type": "date"},
    {"name": "children", "label_zh": "子女数", "data_type": "integer"},
    {"name": "allowance", "label_zh": "补助金额", "data_type": "decimal"},
    {"name": "active", "label_zh": "是否有效", "data_type": "boolean"},
]
HEADER = "id_number,full_name,registered_on,children,allowance,active"
# Valid resident ID numbers (check characters computed by GB 11643).
IDS = [make_id_number("110101", dt.date(1990, 3, 7), n) for n in range(451, 461)]


def publish(
    session: Session, c: dict[str, Any], items: list[dict[str, Any]] | None = None, **overrides: Any
) -> CatalogEntry:
    """A published entry of civil affairs (its table provisioned by the store on publication)."""
    data = {"items": items or ITEMS, **overrides}
    entry = catalog.create_draft(session, c["civil_officer"], marriage(**data))
    case = catalog.submit_for_review(session, c["civil_officer"], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry


def write(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp / name
    path.write_bytes(text.encode(encoding))
    return path


def store_city(session: Session) -> dict[str, Any]:
    """The catalog's small city, plus the civil affairs bureau's data officer (who ingests, R7)."""
    c = city(session)
    c["civil_clerk"] = user(session, "civil_clerk", c["civil"], "data_officer")
    session.commit()
    return c


@pytest.fixture()
def external_sqlite_dirs(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """R7 R19 R26: SQLite files outside the platform are read and written only in the configured folders:
    here the test's own folder, and the folder holding the data folder (so that the platform-database and
    data-folder checks are still reached inside an allowed folder)."""
    monkeypatch.setenv("GONGSHU_EXTERNAL_SQLITE_DIRS", os.pathsep.join([str(tmp_path), str(data_dir.parent)]))
    config.reset_settings()
    yield
    monkeypatch.delenv("GONGSHU_EXTERNAL_SQLITE_DIRS")
    config.reset_settings()


EVIDENCE_PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"


def dispute_city(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    """R14 R17: the store city with three records loaded, the citizen keyed by the first ID number, and
    the dispute chain's people — the authority's coordinator and the municipal government's decision
    maker (for objections the provider refuses and the objector disputes)."""
    from catalog_fixtures import org

    from gongshu.aggregation.ingest import ingest_file
    from gongshu.kernel.identity.models import Organisation

    out = store_city(session)
    person = session.get(Organisation, out["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    gov = org(session, "gov", "municipal_government", "市人民政府", "Municipal Government")
    out["coordinator"] = user(session, "coordinator", out["authority"], "coordinator")
    out["mayor"] = user(session, "mayor", gov, "decision_maker")
    session.commit()
    out["code"] = publish(session, out).resource_code
    text = HEADER + "\n" + "\n".join(f"{i},张{n},2024-01-0{n + 1},1,10.5,true" for n, i in enumerate(IDS[:3]))
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text + "\n"), url=db_clean)
    return out


def objection_city(session: Session, tmp_path: Path, db_clean: str) -> tuple[dict[str, Any], int]:
    """R14: the store city with two records loaded and the citizen (keyed by the first ID number) objecting
    to the first record's name — the case waits for the provider."""
    from gongshu.aggregation.ingest import ingest_file
    from gongshu.kernel.db import session_scope
    from gongshu.kernel.identity.models import Organisation
    from gongshu.quality import objections

    c = store_city(session)
    person = session.get(Organisation, c["citizen"].org_id)
    assert person is not None
    person.id_number = IDS[0]
    session.commit()
    code = publish(session, c).resource_code
    rows = "\n".join(f"{k},张{n},2024-01-0{n + 1},1,10.5,true" for n, k in enumerate(IDS[:2]))
    ingest_file(c["civil_clerk"], code, write(tmp_path, "m.csv", HEADER + "\n" + rows + "\n"), url=db_clean)
    with session_scope() as s:
        case_id = objections.file_objection(
            s,
            c["citizen"],
            code,
            field="full_name",
            claimed_value="章零",
            evidence=("户口簿.pdf", EVIDENCE_PDF),
        ).id
    return c, case_id
