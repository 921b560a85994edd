"""R10 R19 R26: receipts sealed together — one SM2 signature over the root of the SM3 hash tree of a batch's
receipts, each receipt checked alone and offline, stored under the audit entry of its read."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_delivery_api import SCENARIO, api  # noqa: F401  (the fixture)
from typer.testing import CliRunner

from gongshu.cli import app
from gongshu.kernel.audit.models import AuditReceipt
from gongshu.kernel.audit.service import entry_spec
from gongshu.kernel.audit.writer import audit_writer
from gongshu.kernel.crypto.seal import seal_documents, tree_root, verify_sealed
from gongshu.kernel.db import read_scope
from gongshu.sharing.receipts import RECEIPT_KIND

runner = CliRunner()


@pytest.mark.parametrize("count", [2, 3, 5, 8, 13])
def test_r10_documents_sealed_together_each_verify_alone(count: int) -> None:
    docs = [{"n": n, "text": f"回执{n}"} for n in range(count)]
    sealed = seal_documents(docs)
    assert len({s["seal"]["signature"] for s in sealed}) == 1  # one signature for the batch
    for one, doc in zip(sealed, docs, strict=True):
        assert one["document"] == doc and verify_sealed(one).valid
        assert tree_root(one["seal"]["sm3"], one["seal"]["tree"]["path"]) == one["seal"]["tree"]["root"]


def test_r10_a_changed_document_path_or_root_fails() -> None:
    sealed = seal_documents([{"n": n} for n in range(5)])
    changed = copy.deepcopy(sealed[2])
    changed["document"]["n"] = 3
    assert verify_sealed(changed).reason_code == "seal.digest"
    changed = copy.deepcopy(sealed[2])
    side, sibling = changed["seal"]["tree"]["path"][0]
    changed["seal"]["tree"]["path"][0] = ["L" if side == "R" else "R", sibling]
    assert verify_sealed(changed).reason_code == "seal.tree"
    changed = copy.deepcopy(sealed[4])  # the lone last leaf: its path is shorter
    changed["seal"]["tree"]["path"] = changed["seal"]["tree"]["path"][:-1]
    assert verify_sealed(changed).reason_code == "seal.tree"
    changed = copy.deepcopy(sealed[0])  # another batch's root with this batch's signature
    changed["seal"]["tree"]["root"] = sealed[1]["seal"]["sm3"]
    assert verify_sealed(changed).reason_code == "seal.tree"
    other = seal_documents([{"m": n} for n in range(5)])[0]  # a signature of another batch
    changed = copy.deepcopy(sealed[0])
    changed["seal"]["signature"] = other["seal"]["signature"]
    changed["seal"]["sealed_at"] = other["seal"]["sealed_at"]
    assert verify_sealed(changed).reason_code == "seal.signature"
    changed = copy.deepcopy(sealed[0])
    changed["seal"]["tree"]["path"] = "not a path"
    assert verify_sealed(changed).reason_code == "seal.format"


def test_r19_r26_a_batch_of_reads_gets_receipts_under_one_signature(
    api: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Reads waiting for the audit writer together are sealed together: each receipt names its own entry,
    is stored under it, is served to its consumer and verifies with `gongshu receipt verify`."""
    actor = api["police_clerk"]
    release = threading.Event()
    holding = audit_writer().submit(lambda s: release.wait(5))  # holds the writer: the next ones wait
    futures = [
        audit_writer().submit_receipted(
            entry_spec(actor, "data.read", object_type="resource", object_id=api["code"]),
            lambda seq, n=n: {"kind": RECEIPT_KIND, "resource": api["code"], "audit_seq": seq, "n": n},
        )
        for n in range(4)
    ]
    release.set()
    holding.result(timeout=10)
    results = [f.result(timeout=10) for f in futures]
    seqs = [seq for seq, _ in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert len({r["seal"]["signature"] for _, r in results}) == 1
    with read_scope() as s:
        kept = dict(
            s.execute(select(AuditReceipt.seq, AuditReceipt.sealed).where(AuditReceipt.seq.in_(seqs))).all()
        )
    for seq, receipt in results:
        assert receipt["document"]["audit_seq"] == seq and json.loads(kept[seq]) == receipt
        path = tmp_path / f"{seq}.json"
        path.write_text(kept[seq], encoding="utf-8")
        out = runner.invoke(app, ["receipt", "verify", str(path), "--json"])
        assert out.exit_code == 0 and json.loads(out.output)["valid"], out.output
        served = api["client"].get(f"/api/v1/receipts/{seq}")
        assert served.status_code == 200 and served.json() == receipt
    tampered = tmp_path / "tampered.json"
    tampered.write_text(kept[seqs[0]].replace('"n":0', '"n":1'), encoding="utf-8")
    out = runner.invoke(app, ["receipt", "verify", str(tampered), "--json"])
    assert out.exit_code == 1 and json.loads(out.output)["reason_code"] == "seal.digest"


def test_r19_a_row_api_receipt_is_kept_under_its_entry(api: dict[str, Any]) -> None:  # noqa: F811
    resp = api["client"].get(f"/api/v1/data/{api['code']}/rows?scenario={SCENARIO}&limit=2")
    assert resp.status_code == 200
    receipt = resp.json()["receipt"]
    seq = receipt["document"]["audit_seq"]
    with read_scope() as s:
        kept = s.get(AuditReceipt, seq)
        assert kept is not None and json.loads(kept.sealed) == receipt
    assert resp.headers["link"] == f'</api/v1/receipts/{seq}>; rel="receipt"'
