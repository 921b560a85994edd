"""R10: documents and certificates carry an electronic seal — the SM2 signature over the SM3 digest, checked
against the key registered for the sealing organisation; unsigned, tampered, unregistered and revoked
seals are refused with the reason, and a record's page shows the status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, ITEMS, publish, store_city, write

from gongshu.aggregation import seals
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.crypto.seal import generate_key, public_pem
from gongshu.kernel.db import session_scope
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.models import User
from gongshu.web.app import create_app

CERT = {
    "name": "marriage_certificate",
    "label_zh": "结婚证",
    "data_type": "string",
    "length": 40,
    "description": "[证照] 结婚证电子证照",
}
PDF = b"%PDF-1.4 marriage certificate of record 1"


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out, items=[*ITEMS, CERT]).resource_code
    text = "id_number,full_name,registered_on,children,allowance,active,marriage_certificate\n"
    text += f"{IDS[0]},张三,2024-01-02,1,10.5,true,J350200-2024-1\n"
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text), url=db_clean)
    out["key"] = generate_key()
    with session_scope() as s:
        out["kid"] = seals.register_seal_key(
            s, out["reviewer"], "civil_affairs", public_pem(out["key"].public_key())
        ).key_id
    return out


def _verify(content: bytes, sealed: Any, org: str = "civil_affairs") -> seals.SealStatus:
    with session_scope() as s:
        return seals.verify_document_seal(s, content, sealed, org)


def test_r10_valid_seal_is_accepted(c: dict[str, Any]) -> None:
    sealed = seals.seal_bytes(c["key"], PDF, "cert.pdf", "市民政局")
    status = _verify(PDF, sealed)
    assert status.valid and status.key_id == c["kid"] and status.signer == "市民政局"


def test_r10_tampered_byte_and_unsigned_are_refused_with_reason(c: dict[str, Any]) -> None:
    sealed = seals.seal_bytes(c["key"], PDF, "cert.pdf", "市民政局")
    tampered = PDF[:-1] + b"2"
    status = _verify(tampered, sealed)
    assert not status.valid and status.reason_code == "seal.file_digest" and "SM3" in status.reason_zh
    assert _verify(PDF, None).reason_code == "seal.missing"
    forged = {**sealed, "document": {**sealed["document"], "size": 1}}
    assert _verify(PDF, forged).reason_code == "seal.digest"


def test_r10_unregistered_key_is_refused(c: dict[str, Any]) -> None:
    stranger = generate_key()
    assert (
        _verify(PDF, seals.seal_bytes(stranger, PDF, "c.pdf", "市民政局")).reason_code == "seal.unregistered"
    )
    # a key registered for civil affairs does not seal for the police
    assert _verify(PDF, seals.seal_bytes(c["key"], PDF, "c.pdf", "x"), "public_security").reason_code == (
        "seal.unregistered"
    )
    with session_scope() as s, pytest.raises(Forbidden):
        seals.register_seal_key(s, c["civil_clerk"], "civil_affairs", public_pem(stranger.public_key()))
    with session_scope() as s, pytest.raises(ValidationFailed):
        seals.register_seal_key(s, c["reviewer"], "civil_affairs", "not a key")


def test_r10_revoked_key_is_refused(c: dict[str, Any]) -> None:
    sealed = seals.seal_bytes(c["key"], PDF, "cert.pdf", "市民政局")
    with session_scope() as s:
        seals.revoke_seal_key(s, c["reviewer"], c["kid"], "密钥泄露")
    status = _verify(PDF, sealed)
    assert not status.valid and status.reason_code == "seal.revoked"


def test_r10_record_page_shows_the_seal_status(c: dict[str, Any]) -> None:
    good = seals.seal_bytes(c["key"], PDF, "cert.pdf", "市民政局")
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        seals.attach_document(
            s, c["civil_clerk"], c["code"], IDS[0], "full_name", "x.pdf", PDF, good, "civil_affairs"
        )
    assert err.value.code == "seal.not_document_item"
    with session_scope() as s:
        seals.attach_document(
            s,
            c["civil_clerk"],
            c["code"],
            IDS[0],
            "marriage_certificate",
            "cert.pdf",
            PDF,
            good,
            "civil_affairs",
        )
        seals.attach_document(
            s,
            c["civil_clerk"],
            c["code"],
            IDS[0],
            "marriage_certificate",
            "bad.pdf",
            PDF + b"x",
            good,
            "civil_affairs",
        )
    with session_scope() as s:
        user = s.scalars(select(User).where(User.username == "civil_clerk")).one()
        raw, _ = sessions.start_session(s, user, ip=None, user_agent="pytest", second_factor_done=True)
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    page = client.get(f"/data/{c['code']}/records/{IDS[0]}/documents")
    assert page.status_code == 200
    assert 'data-seal="valid"' in page.text and 'data-seal="seal.file_digest"' in page.text
