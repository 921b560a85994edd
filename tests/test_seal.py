"""R10: electronic seals (SM2 over the SM3 digest of a document) and SM4 secrets at rest."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gongshu.kernel.crypto.cli import app
from gongshu.kernel.crypto.seal import (
    ALGORITHM,
    SEAL_FORMAT,
    canonical_json,
    generate_key,
    key_id,
    platform_key_ids,
    platform_private_key,
    public_pem,
    registered_key_ids,
    seal_document,
    seal_file_digest,
    sign_bytes,
    signed_bytes,
    verify_detached,
    verify_sealed,
)
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.crypto.sm4 import decrypt_secret, encrypt_secret
from gongshu.kernel.errors import GongshuError

DOC = {"decision": "approved", "case": "SA-2024-0001", "reasons": "符合R17规定的条件", "days": 5}


def _foreign_seal(document: dict[str, Any]) -> dict[str, Any]:
    """A well-formed seal made with a key the platform does not know."""
    key = generate_key()
    pem = public_pem(key.public_key())
    data = canonical_json(document)
    signed = signed_bytes(sm3_hex(data), "someone", "2024-06-01T00:00:00+00:00")
    signature = base64.b64encode(sign_bytes(key, signed)).decode()
    seal = {
        "algorithm": ALGORITHM,
        "signer": "someone",
        "key_id": key_id(pem),
        "public_key": pem,
        "sm3": sm3_hex(data),
        "signature": signature,
        "sealed_at": "2024-06-01T00:00:00+00:00",
    }
    return {"format": SEAL_FORMAT, "document": document, "seal": seal}


def test_r10_sealed_document_verifies_with_a_trusted_key(session: Session) -> None:
    sealed = seal_document(DOC, signer="市大数据主管部门")
    trusted = platform_key_ids(session)
    result = verify_sealed(json.loads(json.dumps(sealed)), trusted)
    assert result.valid and result.reason_code is None
    assert result.key_id in trusted and result.signer == "市大数据主管部门"
    assert trusted <= registered_key_ids(session)


def test_r10_changed_document_fails_on_its_digest(session: Session) -> None:
    sealed = seal_document(DOC)
    forged = copy.deepcopy(sealed)
    forged["document"]["decision"] = "approvee"  # one character
    result = verify_sealed(forged)
    assert not result.valid and result.reason_code == "seal.digest" and result.reason_zh and result.reason_en
    forged["seal"]["sm3"] = sm3_hex(canonical_json(forged["document"]))  # the digest made to match
    assert verify_sealed(forged).reason_code == "seal.signature"


def test_r10_swapped_signature_fails(session: Session) -> None:
    sealed = seal_document(DOC)
    other = seal_document(DOC | {"case": "SA-2024-0002"})
    sealed["seal"]["signature"] = other["seal"]["signature"]
    assert verify_sealed(sealed).reason_code == "seal.signature"
    sealed["seal"]["signature"] = "not base64!"
    assert verify_sealed(sealed).reason_code == "seal.signature"


def test_r10_untrusted_key_fails(session: Session) -> None:
    foreign = _foreign_seal(DOC)
    assert verify_sealed(foreign).valid  # intact, but proves nothing about who sealed it
    result = verify_sealed(foreign, platform_key_ids(session))
    assert not result.valid and result.reason_code == "seal.untrusted"
    # A seal that claims the platform's key id but embeds another key is refused.
    foreign["seal"]["key_id"] = next(iter(platform_key_ids(session)))
    assert verify_sealed(foreign).reason_code == "seal.key_id"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.pop("document"),
        lambda s: s.update(format="other/1"),
        lambda s: s["seal"].update(algorithm="RSA"),
        lambda s: s["seal"].pop("signature"),
        lambda s: s["seal"].update(public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    ],
)
def test_r10_malformed_seal_is_refused(session: Session, mangle: Any) -> None:
    sealed = seal_document(DOC)
    mangle(sealed)
    assert verify_sealed(sealed).reason_code in {"seal.format", "seal.public_key"}
    assert verify_sealed(None).reason_code == "seal.format"


def test_r10_detached_seal_of_a_file(session: Session, tmp_path: Path) -> None:
    data = tmp_path / "licence.pdf"
    data.write_bytes(b"%PDF-1.7 licence " * 1000)
    sealed = seal_file_digest(data)
    assert verify_detached(data, sealed, platform_key_ids(session)).valid
    data.write_bytes(data.read_bytes()[:-1] + b"X")
    assert verify_detached(data, sealed).reason_code == "seal.file_digest"


def test_r10_cli_seal_sign_and_verify(session: Session, tmp_path: Path) -> None:
    runner = CliRunner()
    src, out = tmp_path / "decision.json", tmp_path / "decision.sealed.json"
    src.write_text(json.dumps(DOC, ensure_ascii=False), encoding="utf-8")
    assert runner.invoke(app, ["sign", str(src), "--out", str(out)]).exit_code == 0
    pem = tmp_path / "platform.pem"
    pem.write_text(public_pem(platform_private_key().public_key()))
    ok = runner.invoke(app, ["verify", str(out), "--public-key", str(pem), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True
    assert runner.invoke(app, ["verify", str(out), "--registered"]).exit_code == 0

    sealed = json.loads(out.read_text(encoding="utf-8"))
    sealed["document"]["days"] = 7
    out.write_text(json.dumps(sealed, ensure_ascii=False), encoding="utf-8")
    bad = runner.invoke(app, ["verify", str(out), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["reason_code"] == "seal.digest"

    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(_foreign_seal(DOC)), encoding="utf-8")
    untrusted = runner.invoke(app, ["verify", str(foreign), "--public-key", str(pem)])
    assert untrusted.exit_code == 1 and "seal.untrusted" in untrusted.stdout
    assert runner.invoke(app, ["verify", str(foreign)]).exit_code == 0


def test_r10_cli_detached_seal(session: Session, tmp_path: Path) -> None:
    runner = CliRunner()
    data, seal = tmp_path / "export.csv", tmp_path / "export.csv.seal"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    assert runner.invoke(app, ["sign", str(data), "--detached", "--out", str(seal)]).exit_code == 0
    assert runner.invoke(app, ["verify", str(seal), "--file", str(data)]).exit_code == 0
    data.write_text("a,b\n1,3\n", encoding="utf-8")
    assert runner.invoke(app, ["verify", str(seal), "--file", str(data)]).exit_code == 1


def test_sm4_secret_round_trip(db_clean: str) -> None:
    secret = "p@ss:数据库口令"
    token = encrypt_secret(secret)
    assert token.startswith("sm4:1:") and secret not in token
    assert decrypt_secret(token) == secret
    assert encrypt_secret(secret) != token  # a fresh IV every time
    assert decrypt_secret(encrypt_secret("", secret="k"), secret="k") == ""


def test_sm4_tampered_token_or_wrong_key_is_refused(db_clean: str) -> None:
    token = encrypt_secret("mysql://reader:secret@10.0.0.5/pop")
    head, body = token[:6], bytearray(base64.urlsafe_b64decode(token[6:]))
    for index in (0, 20, len(body) - 1):  # IV, ciphertext, tag
        changed = bytearray(body)
        changed[index] ^= 1
        with pytest.raises(GongshuError) as err:
            decrypt_secret(head + base64.urlsafe_b64encode(bytes(changed)).decode())
        assert err.value.code == "crypto.secret_tampered"
    with pytest.raises(GongshuError) as err:
        decrypt_secret(token, secret="another installation")
    assert err.value.code == "crypto.secret_tampered"
    for malformed in ("plain", "sm4:1:!!!", "sm4:1:" + base64.urlsafe_b64encode(b"short").decode()):
        with pytest.raises(GongshuError) as err:
            decrypt_secret(malformed)
        assert err.value.code == "crypto.secret_format"


def test_r10_changing_the_signer_or_the_time_breaks_the_seal(session: Session) -> None:
    trusted = platform_key_ids(session)
    for field, value in (("signer", "另一单位"), ("sealed_at", "2020-01-01T00:00:00+00:00")):
        sealed = json.loads(json.dumps(seal_document(DOC, signer="市大数据主管部门")))
        sealed["seal"][field] = value
        result = verify_sealed(sealed, trusted)
        assert not result.valid and result.reason_code == "seal.signature"
