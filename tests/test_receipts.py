"""R19 R26: `gongshu receipt verify` — a consumer checks a delivery receipt offline; one changed byte in the
receipt or in the body it names fails the check."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from test_delivery_api import SCENARIO, api  # noqa: F401  (the fixture)
from typer.testing import CliRunner

from gongshu.cli import app

runner = CliRunner()


def _flip(data: bytes, marker: bytes) -> bytes:
    """The data with one byte changed: the first digit after `marker`."""
    at = data.index(marker) + len(marker)
    while not data[at : at + 1].isdigit():
        at += 1
    digit = b"1" if data[at : at + 1] != b"1" else b"2"
    return data[:at] + digit + data[at + 1 :]


def _verify(*args: str) -> Any:
    return runner.invoke(app, ["receipt", "verify", *args, "--json"])


@pytest.fixture()
def delivered(api: dict[str, Any], tmp_path: Path) -> dict[str, Path]:  # noqa: F811
    """A CSV delivery (receipt in its header) and a JSON delivery (receipt in its body), saved to files."""
    url = f"/api/v1/data/{api['code']}/rows?scenario={SCENARIO}&limit=3"
    csv_resp = api["client"].get(url + "&format=csv")
    json_resp = api["client"].get(url)
    assert csv_resp.status_code == json_resp.status_code == 200
    files = {
        "receipt": tmp_path / "receipt.json",
        "csv": tmp_path / "rows.csv",
        "body": tmp_path / "rows.json",
    }
    files["receipt"].write_bytes(base64.b64decode(csv_resp.headers["X-Gongshu-Receipt"]))
    files["csv"].write_bytes(csv_resp.content)
    files["body"].write_bytes(json_resp.content)
    return files


def test_r19_receipt_verifies_with_its_body(delivered: dict[str, Path]) -> None:
    ok = _verify(str(delivered["receipt"]), "--response", str(delivered["csv"]))
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["valid"] and out["receipt"]["records"] == 3 and out["receipt"]["method"] == "api"
    assert _verify(str(delivered["receipt"])).exit_code == 0
    # A JSON body carries its own receipt: the file is both.
    assert _verify(str(delivered["body"])).exit_code == 0


def test_r19_one_changed_byte_in_the_receipt_fails(delivered: dict[str, Path], tmp_path: Path) -> None:
    changed = tmp_path / "changed.json"
    changed.write_bytes(_flip(delivered["receipt"].read_bytes(), b'"records":'))
    bad = _verify(str(changed), "--response", str(delivered["csv"]))
    assert bad.exit_code == 1 and json.loads(bad.output)["reason_code"] == "seal.digest"
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"{not json")
    assert json.loads(_verify(str(garbage)).output)["reason_code"] == "receipt.format"


def test_r19_one_changed_byte_in_the_body_fails(delivered: dict[str, Path], tmp_path: Path) -> None:
    csv_changed = tmp_path / "rows-changed.csv"
    csv_changed.write_bytes(_flip(delivered["csv"].read_bytes(), b"\n"))
    bad = _verify(str(delivered["receipt"]), "--response", str(csv_changed))
    assert bad.exit_code == 1 and json.loads(bad.output)["reason_code"] == "receipt.response_mismatch"
    body_changed = tmp_path / "rows-changed.json"
    body_changed.write_bytes(_flip(delivered["body"].read_bytes(), b'"rows":'))
    bad_json = _verify(str(body_changed))
    assert bad_json.exit_code == 1
    assert json.loads(bad_json.output)["reason_code"] == "receipt.response_mismatch"
    # The CSV body does not match the JSON delivery's receipt either.
    other = _verify(str(delivered["body"]), "--response", str(delivered["csv"]))
    assert other.exit_code == 1
