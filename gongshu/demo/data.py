"""The demo city's data (R7 R11 R12 R13): synthetic records loaded through the real ingestion pipeline into
the base resources of the demo catalog — about 100,000 residents (valid-format ID numbers of the city's
districts, Chinese names) into the population registration, a few thousand enterprises (valid USCCs) into
the enterprise registration, marriage records for a subset of the residents, a few broken rows that end in
quarantine (R13), and one resource whose last load is old (its data is overdue). Idempotent: a resource
that already holds data is not loaded again. Every name and number is made up."""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel import timeutil
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identifiers.checks import make_id_number, make_uscc
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.store import service as store

PERSONS = 100_000
COMPANIES = 3_000
DISTRICTS = {
    "350203": "思明区",
    "350205": "海沧区",
    "350206": "湖里区",
    "350211": "集美区",
    "350212": "同安区",
    "350213": "翔安区",
}
POPULATION = "人口户籍登记、变更、注销信息"
ENTERPRISES = "企业登记信息"
MARRIAGES = "婚姻登记信息"
OVERDUE = "最低生活保障信息"  # loaded once, long ago: its monthly data is overdue
OVERDUE_DAYS = 75
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程苏魏吕丁任沈姚卢"
)
GIVEN_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建志国"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英华玉兰萍红燕梅琳雪婷倩颖慧莹晶欣悦佳怡雯"
ETHNICITIES = ["汉族"] * 30 + ["回族", "畲族", "满族", "壮族", "苗族", "土家族"]
STREETS = ["鹭江道", "湖滨北路", "嘉禾路", "仙岳路", "莲前西路", "集美大道", "环岛路", "海沧大道", "新阳大道"]
STATIONS = [f"{d}公安分局{s}派出所" for d in DISTRICTS.values() for s in ("城东", "城西")]
TRADES = [
    "软件和信息技术服务",
    "批发和零售",
    "餐饮",
    "建筑装饰",
    "物流运输",
    "电子设备制造",
    "文化创意",
    "旅游",
]
TYPES = ["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业"]


@dataclass
class DataReport:
    """What the demo data load did (batch reports by resource name)."""

    loaded: dict[str, dict[str, object]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _code_of(name: str, url: str | None) -> str | None:
    """The resource code of the demo catalog's published entry of that name (provisioned by the store)."""
    from gongshu.catalog.models import CatalogEntry

    with read_scope(url) as s:
        code = s.scalar(
            select(CatalogEntry.resource_code).where(
                CatalogEntry.name == name, CatalogEntry.status == "published"
            )
        )
        return code if code and store.find_resource(s, code) is not None else None


def _write(path: Path, header: list[str], rows: Iterator[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    return path


def residents(n: int, rnd: random.Random) -> list[tuple[str, str, str, dt.date, str]]:
    """`n` distinct residents: ID number (GB 11643: district, birth date, sequence odd for men), name, sex,
    birth date, district code."""
    seen: set[str] = set()
    out: list[tuple[str, str, str, dt.date, str]] = []
    start = dt.date(1940, 1, 1).toordinal()
    span = dt.date(2023, 12, 31).toordinal() - start
    regions = list(DISTRICTS)
    while len(out) < n:
        region = rnd.choice(regions)
        born = dt.date.fromordinal(start + rnd.randrange(span))
        male = rnd.random() < 0.51
        seq = rnd.randrange(0, 500) * 2 + (1 if male else 0)
        id_number = make_id_number(region, born, seq)
        if id_number in seen:
            continue
        seen.add(id_number)
        given = GIVEN_MALE if male else GIVEN_FEMALE
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(given) for _ in range(rnd.choice((1, 2, 2))))
        out.append((id_number, name, "男" if male else "女", born, region))
    return out


def city_residents() -> list[tuple[str, str, str, dt.date, str]]:
    """The demo city's person accounts (张三, 李四, 王芳) as residents, so that their own records (R14) are
    in the population base: what they see under "my data" and object to."""
    from gongshu.demo.city import CITY_REGION
    from gongshu.demo.city import PERSONS as ACCOUNTS

    district = next(iter(DISTRICTS))  # their address district (their ID numbers carry the city's code)
    out = []
    for _username, name, birth, seq in ACCOUNTS:
        born = dt.date.fromisoformat(birth)
        out.append((make_id_number(CITY_REGION, born, seq), name, "男" if seq % 2 else "女", born, district))
    return out


def city_companies() -> list[tuple[str, str]]:
    """The demo city's company accounts (鹭江数据科技, 海西物流) as (USCC, name), so that their own records
    (R14) are in the legal-person base: what they see under "my data" and object to."""
    from gongshu.demo.city import COMPANIES as ACCOUNTS

    return [(make_uscc(prefix[:17]), name) for _username, name, prefix in ACCOUNTS]


def _population_rows(
    people: list[tuple[str, str, str, dt.date, str]], rnd: random.Random
) -> Iterator[list[object]]:
    for n, (id_number, name, sex, born, region) in enumerate(people):
        district = DISTRICTS[region]
        registered = max(born, dt.date(1985, 1, 1)) + dt.timedelta(days=rnd.randrange(0, 60))
        moved = rnd.random() < 0.08
        cancelled = born.year < 1950 and rnd.random() < 0.2
        bad_id = id_number[:-1] + ("0" if id_number[-1] != "0" else "1") if n % 20_000 == 7 else id_number
        bad_day = "2023-02-30" if n % 25_000 == 11 else registered.isoformat()
        yield [
            bad_id,  # a few wrong check characters and impossible dates go to quarantine (R13)
            name,
            sex,
            rnd.choice(ETHNICITIES),
            born.isoformat(),
            f"福建省厦门市{district}",
            f"福建省厦门市{district}{rnd.choice(STREETS)}{rnd.randrange(1, 400)}号",
            rnd.choice(("家庭户", "家庭户", "家庭户", "集体户")),
            bad_day,
            "迁入" if moved else "",
            (registered + dt.timedelta(days=rnd.randrange(30, 9000))).isoformat() if moved else "",
            (born + dt.timedelta(days=rnd.randrange(27_000, 30_000))).isoformat() if cancelled else "",
            STATIONS[list(DISTRICTS).index(region) * 2 + rnd.randrange(2)],
        ]


def _marriage_rows(
    people: list[tuple[str, str, str, dt.date, str]], rnd: random.Random
) -> Iterator[list[object]]:
    men = [p for p in people if p[2] == "男" and p[3].year <= 2000]
    women = [p for p in people if p[2] == "女" and p[3].year <= 2002]
    for n, (man, woman) in enumerate(zip(men[: len(men) // 8], women[: len(women) // 8], strict=False)):
        day = dt.date(2005, 1, 1) + dt.timedelta(days=rnd.randrange(0, 7000))
        divorced = rnd.random() < 0.1
        kind, status = ("离婚登记", "离婚") if divorced else ("结婚登记", "已婚")
        registry = f"厦门市{DISTRICTS[man[4]]}民政局婚姻登记处"
        certificate = f"J350200-{day.year}-{n:06d}"
        for me, spouse in ((man, woman), (woman, man)):
            yield [
                me[0],
                me[1],
                me[2],
                day.isoformat(),
                registry,
                status,
                kind,
                spouse[0],
                spouse[1],
                certificate,
            ]


def _enterprise_rows(
    n: int, rnd: random.Random, people: list[tuple[str, str, str, dt.date, str]]
) -> Iterator[list[object]]:
    accounts = city_companies()
    for i in range(n):
        region = rnd.choice(list(DISTRICTS))
        uscc = make_uscc(f"91{region}MA{i:07d}")
        trade = rnd.choice(TRADES)
        name = f"厦门{rnd.choice(SURNAMES)}{rnd.choice(GIVEN_MALE)}{trade[:2]}{rnd.choice(TYPES)}"
        if i < len(accounts):  # the company accounts' own registrations come first
            uscc, name = accounts[i]
        yield [
            uscc,
            name,
            rnd.choice(TYPES),
            rnd.choice(people)[1],
            f"{rnd.randrange(10, 50_000)}.{rnd.randrange(100):02d}",
            (dt.date(1995, 1, 1) + dt.timedelta(days=rnd.randrange(0, 11_000))).isoformat(),
            f"厦门市市场监督管理局{DISTRICTS[region]}分局",
            f"{trade}；技术开发、技术咨询、技术服务",
            f"福建省厦门市{DISTRICTS[region]}{rnd.choice(STREETS)}{rnd.randrange(1, 800)}号",
            rnd.choice(("存续", "存续", "存续", "在业", "注销", "吊销")),
        ]


def _overdue_rows(
    people: list[tuple[str, str, str, dt.date, str]], rnd: random.Random
) -> Iterator[list[object]]:
    for id_number, name, _sex, _born, region in people[:300]:
        month = dt.date(2026, rnd.randrange(1, 8), 1)
        yield [id_number, name, rnd.randrange(1, 5), f"{rnd.randrange(500, 1200)}.00", month.isoformat(),
               f"{DISTRICTS[region]}街道", "在保"]  # fmt: skip


def _items(code: str, url: str | None) -> list[str]:
    with read_scope(url) as s:
        return [str(i["name"]) for i in store.get_resource(s, code).items]


def _has_data(code: str, url: str | None) -> bool:
    with read_scope(url) as s:
        return store.has_data(s, code)


def _load(
    report: DataReport, name: str, code: str, path: Path, at: dt.datetime | None, url: str | None
) -> None:
    if at is None:
        report.loaded[name] = ingest_file(SYSTEM, code, path, url=url)
        return
    timeutil.freeze(at)  # the overdue resource's only load happened long ago
    try:
        report.loaded[name] = ingest_file(SYSTEM, code, path, url=url)
    finally:
        timeutil.freeze(None)


def load_demo_data(
    url: str | None = None, *, persons: int = PERSONS, companies: int = COMPANIES, seed: int = 2026
) -> DataReport:
    """Load the demo records through `ingest_file` (idempotent: a resource holding data is skipped), then
    re-check what was loaded (R13) so that the quality pages have figures."""
    report = DataReport()
    rnd = random.Random(seed)
    people = [*city_residents(), *residents(persons, rnd)][:persons]
    with tempfile.TemporaryDirectory(prefix="gongshu-demo-") as tmp:
        folder = Path(tmp)
        plan = [
            (POPULATION, _population_rows(people, rnd), None),
            (ENTERPRISES, _enterprise_rows(companies, rnd, people), None),
            (MARRIAGES, _marriage_rows(people, rnd), None),
            (OVERDUE, _overdue_rows(people, rnd), timeutil.now() - dt.timedelta(days=OVERDUE_DAYS)),
        ]
        for n, (name, rows, at) in enumerate(plan):
            code = _code_of(name, url)
            if code is None or _has_data(code, url):
                report.skipped.append(name)
                continue
            path = _write(folder / f"{n}.csv", _items(code, url), rows)
            _load(report, name, code, path, at, url)
    if report.loaded:
        from gongshu.quality.recheck import recheck

        for name in report.loaded:
            code = _code_of(name, url)
            if code is not None:
                with session_scope(url) as s:
                    recheck(s, code)
    return report
