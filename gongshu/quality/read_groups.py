"""R26 data tracker: "who read my data" lists what organisations did with a person's or company's records,
not every page they opened. A provider's officer who reloads an objection's handling page three times in a
minute reads the same record for the same purpose three times: the audit log keeps the three entries (each
read is audited, R26), and the tracker shows them as one line — the same reader (organisation, or the
platform's own job), the same resources and the same purpose (scenario, way of the read, case), on the
same day (China) — with how many times and when first and last."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gongshu.kernel.timeutil import as_utc, today_china
from gongshu.quality.objections import Read


@dataclass(frozen=True)
class ReadGroup:
    """R26: the identical reads of one day as one line of the tracker: the latest of them (`read`, which
    names the reader, the resources and the purpose), how many there were, and when the first and the last
    were made."""

    read: Read
    count: int
    first_at: dt.datetime
    last_at: dt.datetime

    @property
    def day(self) -> dt.date:
        return today_china(as_utc(self.last_at))


def _identity(read: Read) -> tuple[object, ...]:
    """What makes two reads the same line: the day (China), the reader, the resources and the purpose."""
    return (
        today_china(as_utc(read.at)),  # a naive instant, as SQLite gives it back, is UTC
        read.org_zh,
        read.org_en,
        tuple(r.code for r in read.resources),
        read.scenario,
        read.way_zh,
        read.case_number,
    )


def group_reads(reads: list[Read]) -> list[ReadGroup]:
    """R26: identical reads of a day grouped into one line each (with their count and first and last
    times), the line whose latest read is newest first."""
    groups: dict[tuple[object, ...], list[Read]] = {}
    for read in reads:
        groups.setdefault(_identity(read), []).append(read)
    out = []
    for same in groups.values():
        times = [r.at for r in same]
        latest = max(same, key=lambda r: r.at)
        out.append(ReadGroup(read=latest, count=len(same), first_at=min(times), last_at=max(times)))
    return sorted(out, key=lambda g: g.last_at, reverse=True)
