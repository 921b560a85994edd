"""R19 (file exchange), R26: packages in CSV (UTF-8 with BOM), XLSX and Parquet whose files match the
manifest's SM3 digests; the manifest is sealed; a changed byte is detected; a revoked or expired grant
refuses generation and download (403, audited); another organisation is refused."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.crypto.seal import file_sm3, verify_sealed
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.identity.models import User
from gongshu.kernel.timeutil import freeze, now
from gongshu.sharing import files
from gongshu.sharing.delivery_models import FileSchedule
from gongshu.sharing.receipts import verify_receipt
from gongshu.web.app import create_app

GRANTED = ["id_number", "full_name", "registered_on", "children", "allowance"]  # not `active`


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


def _setup(session: Session, c: dict[str, Any], tmp: Path, url: str, method: str = "file") -> int:
    code = publish(session, c).resource_code
    session.rollback()
    rows = [
        f"{IDS[0]},张三,2024-01-02,1,2.5,是",
        f"{IDS[1]},李四,2024-01-03,0,,否",
        f"{IDS[2]},王五,,2,10.25,是",
    ]
    ingest_file(c["civil_clerk"], code, write(tmp, "d.csv", HEADER + "\n" + "\n".join(rows) + "\n"), url=url)
    g = create_grant(
        session,
        SYSTEM,
        consumer_org_id=c["police"].id,
        resource_id=code,
        items=GRANTED,
        scenario="婚姻状况核验",
        delivery_method=method,
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    session.commit()
    return g.id


def _login(session: Session, username: str) -> tuple[str, str]:
    user = session.scalars(select(User).where(User.username == username)).one()
    raw, ws = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    return raw, ws.csrf_token


def test_r19_package_files_match_the_sealed_manifest(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    package = files.generate_package(c["police_clerk"], grant_id, url=db_clean)
    folder = Path(package.folder)
    assert folder.parent.parent.name == "exports" and folder.parent.name == str(grant_id)
    sealed = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert verify_sealed(sealed).valid
    doc = sealed["document"]
    assert (doc["grant_id"], doc["scenario"], doc["items"]) == (grant_id, "婚姻状况核验", GRANTED)
    assert {f["format"] for f in doc["files"]} == {"csv", "xlsx", "parquet"}
    for f in doc["files"]:
        path = folder / f["name"]
        assert (file_sm3(path), path.stat().st_size, f["records"]) == (f["sm3"], f["size"], 3)
    csv_bytes = (folder / f"{package.resource_code}.csv").read_bytes()
    assert csv_bytes.startswith(b"\xef\xbb\xbf") and "张三" in csv_bytes.decode("utf-8-sig")
    assert csv_bytes.decode("utf-8-sig").splitlines()[0] == ",".join(GRANTED)
    ws = openpyxl.load_workbook(folder / f"{package.resource_code}.xlsx", read_only=True).active
    assert [list(r) for r in ws.iter_rows(values_only=True)][1][:2] == [IDS[0], "张三"]
    table = pq.read_table(folder / f"{package.resource_code}.parquet")
    assert table.column_names == GRANTED and table.column("children").to_pylist() == [1, 0, 2]
    zip_name = next(n for n in package.files if n.endswith(".zip"))
    with zipfile.ZipFile(folder / zip_name) as zf:
        assert sorted(zf.namelist()) == sorted([f["name"] for f in doc["files"]] + ["manifest.json"])
    assert verify_receipt(package.receipt).valid and package.receipt["document"]["method"] == "file"
    with read_scope(db_clean) as s:
        read = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read")).one()
        assert read.grant_id == grant_id and read.detail["records"] == 3 and len(read.subject_keys or []) == 3


def test_r19_a_changed_byte_is_detected_against_the_manifest(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    package = files.generate_package(c["police_clerk"], grant_id, url=db_clean)
    folder = Path(package.folder)
    target = folder / f"{package.resource_code}.csv"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x01
    target.write_bytes(bytes(data))
    listed = {f["name"]: f["sm3"] for f in package.manifest["document"]["files"]}
    assert file_sm3(target) != listed[target.name]
    assert file_sm3(folder / f"{package.resource_code}.parquet") == listed[f"{package.resource_code}.parquet"]
    forged = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    forged["document"]["files"][0]["sm3"] = file_sm3(target)  # re-listing the changed file breaks the seal
    assert not verify_sealed(forged).valid


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_r19_r26_revoked_or_expired_grant_refuses_generation_and_download(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path, how: str
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    package = files.generate_package(c["police_clerk"], grant_id, url=db_clean)
    assert files.package_file(c["police_clerk"], package.id, "manifest.json", url=db_clean).exists()
    if how == "revoked":
        with session_scope(db_clean) as s:
            revoke_grant(s, c["reviewer"], grant_id, reason="场景已结束", provider_org_id=c["civil"].id)
    else:
        freeze(now() + dt.timedelta(days=31))
    reason = f"access.grant_{how}"
    with pytest.raises(Forbidden) as gen:
        files.generate_package(c["police_clerk"], grant_id, url=db_clean)
    with pytest.raises(Forbidden) as down:
        files.package_file(c["police_clerk"], package.id, "manifest.json", url=db_clean)
    assert gen.value.code == down.value.code == reason and gen.value.status_code == 403
    with read_scope(db_clean) as s:
        denied = list(s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")))
        assert [e.detail["reason"] for e in denied] == [reason, reason]


def test_r19_another_organisation_may_not_download_a_package(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    package = files.generate_package(c["police_clerk"], grant_id, url=db_clean)
    with pytest.raises(Forbidden) as other:
        files.package_file(c["civil_clerk"], package.id, "manifest.json", url=db_clean)
    assert other.value.code == "delivery.not_consumer"
    with pytest.raises(Forbidden):
        files.generate_package(c["civil_clerk"], grant_id, url=db_clean)
    token, _ = _login(session, "civil_clerk")
    client = TestClient(create_app())
    client.cookies.set("gs_session", token)
    name = next(n for n in package.files if n.endswith(".zip"))
    assert client.get(f"/sharing/delivery/files/{package.id}/{name}").status_code == 403


def test_r19_the_job_regenerates_due_packages_and_stops_on_revocation(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    with session_scope(db_clean) as s:
        files.schedule_files(s, c["police_clerk"], grant_id, ["csv", "parquet"], 24)
    first = files.generate_due(db_clean)
    assert first[grant_id].startswith("package:")
    assert files.generate_due(db_clean) == {}  # not due again within the interval
    with session_scope(db_clean) as s:
        revoke_grant(s, c["reviewer"], grant_id, reason="撤销", provider_org_id=c["civil"].id)
    freeze(now() + dt.timedelta(hours=25))
    assert files.generate_due(db_clean) == {grant_id: "access.grant_revoked"}
    with read_scope(db_clean) as s:
        sched = s.scalars(select(FileSchedule)).one()
        assert not sched.enabled and sched.last_error["code"] == "access.grant_revoked"
        assert sched.last_package_path and sched.last_package_path.endswith(".zip")


def test_r19_delivery_page_generates_and_downloads_for_the_consumer(
    db_clean: str, session: Session, c: dict[str, Any], tmp_path: Path
) -> None:
    grant_id = _setup(session, c, tmp_path, db_clean)
    token, csrf = _login(session, "police_clerk")
    client = TestClient(create_app())
    client.cookies.set("gs_session", token)
    page = client.get("/sharing/delivery")
    assert page.status_code == 200 and f'data-grant="{grant_id}"' in page.text
    made = client.post(f"/sharing/delivery/files/{grant_id}/generate", data={"csrf_token": csrf})
    assert made.status_code == 200 and 'data-testid="delivery-packages"' in made.text  # after the redirect
    with read_scope(db_clean) as s:
        [package_id] = [p.id for p in files.packages_of(s, c["police"].id)]
    got = client.get(f"/sharing/delivery/files/{package_id}/manifest.json")
    assert got.status_code == 200 and verify_sealed(got.json()).valid
    assert client.get(f"/sharing/delivery/files/{package_id}/x.csv").status_code == 404
