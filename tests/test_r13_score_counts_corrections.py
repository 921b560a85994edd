"""R13: the quality score counts the refused rows still to fix. A refused row that a later batch corrected
(here: a resubmission of the refused-rows download, as the batch page counts it) is corrected: the
resource's page no longer asks to correct it, and the acceptance part of the score uses the rows still to
fix. A resubmission's lines are the original batch's rows brought again: counted once, with it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope
from gongshu.quality import scores
from gongshu.store import batches

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    timeutil.freeze(T0)
    out = store_city(session)
    out["code"] = publish(session, out).resource_code
    return out


def _score(code: str) -> scores.ResourceScore:
    with read_scope() as s:
        return next(r for r in scores.resource_scores(s) if r.resource_code == code)


def _list_score(html: str, code: str) -> str:
    row = html[html.index(f'data-resource="{code}"') :]
    found = re.search(r'data-score="([^"]*)"', row[: row.index("</tr>")])
    assert found is not None
    return found.group(1)


def test_r13_rows_a_resubmission_corrected_no_longer_count_against_the_score(
    c: dict[str, Any], tmp_path: Path
) -> None:
    code = c["code"]
    good = [f"{IDS[i]},某{i},2024-01-02,1,1,是" for i in range(5)]
    bad = [f"{IDS[i]},某{i},2024-01-02,abc,1,是" for i in range(5, 10)]  # source rows 7–11: refused
    first = ingest_file(
        c["civil_clerk"], code, write(tmp_path, "a.csv", HEADER + "\n" + "\n".join(good + bad))
    )
    assert (first["received"], first["refused"]) == (10, 5)
    before = _score(code)
    assert (before.refused, before.corrected, before.to_fix, before.score) == (5, 0, 5, 50.0)

    # The refused-rows download, four rows fixed, one left as it was; resubmitted.
    timeutil.freeze(T0 + dt.timedelta(minutes=5))
    lines = [
        f"{IDS[5 + n]},某{5 + n},2024-01-02,{'abc' if n == 4 else n},1,是,{7 + n},子女数有误"
        for n in range(5)
    ]
    fixed = write(tmp_path, "fixed.csv", HEADER + ",_source_row,_problems\n" + "\n".join(lines) + "\n")
    again = ingest_file(c["civil_clerk"], code, fixed, mode="incremental", resubmission_of=first["id"])
    assert (again["status"], again["accepted"], again["refused"]) == ("committed", 4, 1)
    with read_scope() as s:  # what the batch page shows
        counts = batches.correction_counts(s, batches.get(s, first["id"]))
    assert (counts["refused_rows"], counts["corrected"], counts["to_fix"]) == (5, 4, 1)

    after = _score(code)
    assert (after.received, after.refused, after.corrected, after.to_fix) == (10, 5, 4, 1)
    assert after.batches == 1 and after.acceptance == pytest.approx(0.9) and after.score == 90.0
    clerk, _ = page_client("civil_clerk")
    assert _list_score(clerk.get("/data/quality").text, code) == "90.0"
    page = clerk.get(f"/data/quality/{code}").text
    assert re.search(r'data-testid="quality-score"[^>]*>90\.0<', page)
    advice = page[page.index('data-testid="quality-advice"') :]
    advice = advice[: advice.index("</ul>")]
    assert "仍有 1 行待更正" in advice and "已由后续批次更正 4 行" in advice
    assert "有 5 行被拒收" not in advice  # no longer asks to correct the five
    assert "其后已由后续批次更正 4 行，仍待更正 1 行" in page  # the acceptance part explained
    en = page_client("civil_clerk", "en")[0].get(f"/data/quality/{code}").text
    assert "1 row refused in the last 30 days is still to fix (corrected since by later batches: 4)" in en


def test_r13_every_refused_row_corrected_leaves_nothing_to_fix(c: dict[str, Any], tmp_path: Path) -> None:
    code = c["code"]
    rows = [f"{IDS[0]},某0,2024-01-02,1,1,是", f"{IDS[1]},某1,2024-01-02,abc,1,是"]
    first = ingest_file(c["civil_clerk"], code, write(tmp_path, "a.csv", HEADER + "\n" + "\n".join(rows)))
    assert first["refused"] == 1 and _score(code).score == 50.0
    # Corrected by a later ordinary load of the key (not a resubmission): counted as corrected too.
    timeutil.freeze(T0 + dt.timedelta(minutes=5))
    later = write(tmp_path, "b.csv", HEADER + "\n" + f"{IDS[1]},某1,2024-01-02,2,1,是\n")
    ingest_file(c["civil_clerk"], code, later, mode="incremental")
    after = _score(code)
    assert (after.received, after.refused, after.corrected, after.to_fix, after.score) == (3, 1, 1, 0, 100.0)
    page = page_client("civil_clerk")[0].get(f"/data/quality/{code}").text
    assert "近 30 天被拒收的行均已由后续批次更正。" in page
