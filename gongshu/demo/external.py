"""The demo city's databases outside the platform (R7 R19), in one folder beside the data folder — never
inside it, which the platform refuses as a pull source or a delivery target: `<data folder>-external/`.

- The real estate registration centre's own database (a SQLite file standing in for it): its register of
  properties, with an update time. Its data officer registers a scheduled, incremental pull of it into the
  published 不动产登记信息 (by the update time, hourly) and runs it once: a committed pull batch.
- The disabled persons' federation's own database, served by its own HTTP API (`gongshu.demo.department_api`,
  which `scripts/run-demo.sh` starts beside the platform): the federation's data officer registers that API
  as the service interface of 残疾人登记信息 (disability data is sensitive personal information, not
  copied into the platform) and the authority confirms it. The civil affairs bureau, which holds an
  approved grant for that entry, verifies applicants through the platform.
- The medical insurance bureau's database, into which its granted table is delivered (`demo.sharing`).

Idempotent: files present are kept, a pull registered and run is not run again, an interface registered at
the same address is not registered again (at another address it is registered and confirmed anew)."""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.models import CatalogEntry
from gongshu.demo.data import DISTRICTS, STREETS, residents
from gongshu.kernel import timeutil
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity.actor import Actor

EXTERNAL_SUFFIX = "-external"
DEPARTMENT_API = "http://127.0.0.1:8001"  # `gongshu demo --department-api`; run-demo.sh: PORT + 1

# R7: the scheduled pull from the real estate registration centre's own database.
REAL_ESTATE = "不动产登记信息"
REAL_ESTATE_FILE = "real_estate.db"
REAL_ESTATE_TABLE = "bdc_register"
WATERMARK = "updated_at"
PULL_EVERY_MINUTES = 60
PROPERTIES = 1500
PULL_OFFICER = "real_estate.data"

# R7: the service interface of the disabled persons' federation.
DISABILITY = "残疾人登记信息"
DISABILITY_FILE = "disabled_federation.db"
DISABILITY_TABLE = "disability_certificate"
DISABLED = 1200
INTERFACE_OFFICER = "disabled_federation.data"
INTERFACE_CONFIRMER = "authority.reviewer"
INTERFACE_CALLER = "civil_affairs.data"  # holds the approved grant of the demo's sharing (R17)
INTERFACE_PARAMS = {"id_number": "id_number", "certificate_no": "certificate_no"}
INTERFACE_BASIS = (
    "残疾类别和残疾等级属于医疗健康类敏感个人信息（《中华人民共和国个人信息保护法》第二十八条），"
    "处理个人信息应当限于实现处理目的的最小范围（第六条）：残疾人登记数据不在平台集中存储，"
    "由市残联业务系统按身份证号码或残疾人证号逐次核验提供。"
)
REGISTERED_DAYS_AGO, CONFIRMED_DAYS_AGO = 30, 29

SEED = 2026  # the population base's seed (`demo.data`): owners and card holders are its residents
USAGES = ["住宅"] * 8 + ["商业", "办公", "车位"]
DISABILITY_TYPES = {
    "1": "视力残疾",
    "2": "听力残疾",
    "3": "言语残疾",
    "4": "肢体残疾",
    "5": "智力残疾",
    "6": "精神残疾",
    "7": "多重残疾",
}
GRADES = {"1": "一级", "2": "二级", "3": "三级", "4": "四级"}
SECOND_GENERATION, LAST_ISSUED = dt.date(2008, 7, 1), dt.date(2026, 6, 30)


@dataclass
class ExternalReport:
    """What `gongshu demo` shows about the databases outside the platform."""

    folder: str = ""
    consumer_db: str = ""
    pull_code: str = ""
    pull_source_id: int | None = None
    pull_batch_id: int | None = None
    pull_status: str = ""
    pull_file: str = ""
    pull_user: str = PULL_OFFICER
    pull_every_minutes: int = PULL_EVERY_MINUTES
    interface_code: str = ""
    interface_base_url: str = ""
    interface_path: str = ""
    interface_db: str = ""
    interface_confirmed: bool = False
    interface_user: str = INTERFACE_OFFICER
    interface_caller: str = INTERFACE_CALLER
    interface_scenario: str = ""
    interface_token: str = ""  # issued with the interface, shown only then
    example_id_number: str = ""

    def interface_curl(self, base: str) -> str:
        """R7: the call of the civil affairs bureau through the platform (its token, its scenario)."""
        from urllib.parse import urlencode

        query = urlencode({"scenario": self.interface_scenario, "id_number": self.example_id_number})
        token = self.interface_token or "TOKEN"
        return (
            f'curl -H "Authorization: Bearer {token}" '
            f'"{base.rstrip("/")}/api/v1/data/{self.interface_code}/interface?{query}"'
        )


def external_dir(data_dir: Path | None = None) -> Path:
    """The folder of the demo's stand-in external databases: `<data folder>-external`, beside it."""
    folder = Path(os.path.realpath(data_dir or get_settings().data_dir))
    return folder.parent / f"{folder.name}{EXTERNAL_SUFFIX}"


def ensure_external_dir() -> Path:
    folder = external_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _people(n: int, skip: int = 0) -> list[tuple[str, str, str, dt.date, str]]:
    """Residents of the demo's population base (the same seed, so the same first residents)."""
    return residents(skip + n, random.Random(SEED))[skip:]


def _build(path: Path, schema: str, insert: str, rows: list[tuple[object, ...]]) -> Path:
    """A SQLite file written whole under a temporary name, then moved into place (never half-built)."""
    if path.is_file():
        return path
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(schema)
        conn.executemany(insert, rows)
    conn.close()
    os.replace(tmp, path)
    return path


def real_estate_db(folder: Path) -> Path:
    """The real estate registration centre's register: one property per owner (the key is the owner's ID
    number), with the time each record was last updated (the pull's watermark)."""
    rnd = random.Random(f"{SEED}-real-estate")
    at = timeutil.now().astimezone(timeutil.CHINA).replace(microsecond=0, tzinfo=None)
    rows: list[tuple[object, ...]] = []
    for n, (id_number, name, _sex, born, region) in enumerate(_people(PROPERTIES)):
        district = DISTRICTS[region]
        usage = rnd.choice(USAGES)
        registered = max(born + dt.timedelta(days=22 * 365), dt.date(2008, 1, 1)) + dt.timedelta(
            days=rnd.randrange(0, 2500)
        )
        registered = min(registered, dt.date(2025, 12, 31))
        building, room = rnd.randrange(1, 40), rnd.randrange(101, 3300)
        rows.append(
            (
                id_number,
                name,
                f"{region}{rnd.randrange(1, 20):03d}{rnd.randrange(1, 60):03d}GB{n:05d}F{building:04d}{room:04d}",
                f"闽（{registered.year}）厦门市不动产权第{registered.year % 100:02d}{n:05d}号",
                f"厦门市{district}{rnd.choice(STREETS)}{rnd.randrange(1, 400)}号{building}幢{room}室",
                round(rnd.uniform(12, 30) if usage == "车位" else rnd.uniform(45, 180), 2),
                usage,
                "国有建设用地使用权/房屋所有权",
                registered.isoformat(),
                1 if rnd.random() < 0.35 else 0,
                (at - dt.timedelta(minutes=rnd.randrange(60, 90 * 24 * 60))).isoformat(sep=" "),
            )
        )
    return _build(
        folder / REAL_ESTATE_FILE,
        f"""CREATE TABLE {REAL_ESTATE_TABLE} (
            id_number TEXT PRIMARY KEY, person_name TEXT, unit_no TEXT, certificate_no TEXT,
            location TEXT, area REAL, usage TEXT, right_type TEXT, registered_on TEXT,
            mortgaged INTEGER, {WATERMARK} TEXT NOT NULL);
        CREATE INDEX {REAL_ESTATE_TABLE}_{WATERMARK} ON {REAL_ESTATE_TABLE} ({WATERMARK});""",
        f"INSERT INTO {REAL_ESTATE_TABLE} VALUES ({', '.join('?' * 11)})",
        rows,
    )


def disability_db(folder: Path) -> Path:
    """The disabled persons' federation's register of disability certificates (second generation: the
    holder's ID number, then the type and the grade)."""
    rnd = random.Random(f"{SEED}-disability")
    rows: list[tuple[object, ...]] = []
    for id_number, name, _sex, born, _region in _people(DISABLED, skip=PROPERTIES):
        kind, grade = rnd.choice(list(DISABILITY_TYPES)), rnd.choice(list(GRADES))
        first = max(born + dt.timedelta(days=365), SECOND_GENERATION)  # the 20-digit cards, since 2008
        issued = first + dt.timedelta(days=rnd.randrange(max((LAST_ISSUED - first).days, 1)))
        rows.append(
            (
                id_number,
                name,
                DISABILITY_TYPES[kind],
                GRADES[grade],
                f"{id_number}{kind}{grade}",
                issued.isoformat(),
            )
        )
    return _build(
        folder / DISABILITY_FILE,
        f"""CREATE TABLE {DISABILITY_TABLE} (
            id_number TEXT NOT NULL, person_name TEXT, disability_type TEXT, disability_grade TEXT,
            certificate_no TEXT PRIMARY KEY, issued_on TEXT);
        CREATE INDEX {DISABILITY_TABLE}_id_number ON {DISABILITY_TABLE} (id_number);""",
        f"INSERT INTO {DISABILITY_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def _code(session: Session, name: str) -> str | None:
    return session.scalar(
        select(CatalogEntry.resource_code).where(
            CatalogEntry.name == name, CatalogEntry.status == "published"
        )
    )


def _actor(session: Session, username: str) -> Actor:
    return identity.build_actor(session, identity.get_user_by_username(session, username))


def _pull(report: ExternalReport, folder: Path, url: str | None) -> None:
    """R7: the real estate registration centre's data officer registers the hourly incremental pull of its
    own database and runs it once (not again when it has already loaded a batch)."""
    from gongshu.aggregation import pull

    with read_scope(url) as s:
        code = _code(s, REAL_ESTATE)
    if code is None:
        return
    path = real_estate_db(folder)
    report.pull_code, report.pull_file = code, str(path)
    with session_scope(url) as s:
        actor = _actor(s, PULL_OFFICER)
        sources = pull.pulls_of(s, code)
        source = sources[0] if sources else None
        if source is None:
            source = pull.register_pull(
                s,
                actor,
                code,
                f"sqlite:///{path}",
                REAL_ESTATE_TABLE,
                "incremental",
                WATERMARK,
                PULL_EVERY_MINUTES,
            )
        report.pull_source_id, report.pull_batch_id = source.id, source.last_batch_id
        report.pull_status = source.last_status or ""
    if report.pull_batch_id is None:
        batch = pull.run_pull(actor, code, report.pull_source_id, url=url)
        report.pull_batch_id, report.pull_status = batch.get("id"), str(batch["status"])


def _interface(report: ExternalReport, folder: Path, base_url: str, url: str | None) -> None:
    """R7: the federation's data officer registers its API for 残疾人登记信息 (a month ago, as the demo's
    history has it; today when its address changed) and the authority confirms it; the civil affairs
    bureau gets an API token to call it with its approved grant."""
    from gongshu.aggregation import interface
    from gongshu.demo.catalog import clock_at
    from gongshu.demo.sharing import APPROVED
    from gongshu.kernel.access.models import Grant
    from gongshu.kernel.identity.tokens import issue_token

    with read_scope(url) as s:
        code = _code(s, DISABILITY)
    if code is None:
        return
    path = disability_db(folder)
    base = base_url.strip().rstrip("/")
    report.interface_code, report.interface_db, report.interface_path = (
        code,
        str(path),
        f"/{DISABILITY_TABLE}",
    )
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        (report.example_id_number,) = conn.execute(
            f"SELECT id_number FROM {DISABILITY_TABLE} ORDER BY rowid LIMIT 1"
        ).fetchone()
    conn.close()
    with session_scope(url) as s:
        row = interface.get_interface(s, code)
        first = row is None
        if row is None or row.base_url != base or row.path_template != report.interface_path:
            with clock_at(REGISTERED_DAYS_AGO) if first else nullcontext():
                row = interface.register_interface(
                    s,
                    _actor(s, INTERFACE_OFFICER),
                    code,
                    base_url=base,
                    path_template=report.interface_path,
                    params=INTERFACE_PARAMS,
                    timeout_seconds=5.0,
                    legal_basis=INTERFACE_BASIS,
                )
        if not row.enabled:
            with clock_at(CONFIRMED_DAYS_AGO) if first else nullcontext():
                interface.confirm_interface(
                    s, _actor(s, INTERFACE_CONFIRMER), code, "残疾人登记数据属敏感个人信息，经审核不予归集。"
                )
        report.interface_base_url, report.interface_confirmed = row.base_url, row.enabled
        caller = identity.get_user_by_username(s, INTERFACE_CALLER)
        grant = s.scalar(
            select(Grant).where(
                Grant.resource_id == code,
                Grant.consumer_org_id == caller.organisation_id,
                Grant.revoked_at.is_(None),
            )
        )
        report.interface_scenario = grant.scenario if grant is not None else APPROVED.scenario
        if first:
            report.interface_token, _ = issue_token(
                s, caller, name="演示：残疾人证核验服务接口（R7）", days=30
            )


def load_external(url: str | None = None, department_api: str = DEPARTMENT_API) -> ExternalReport:
    """The demo's pull source and service interface (idempotent); see the module's description."""
    folder = ensure_external_dir()
    report = ExternalReport(folder=str(folder))
    _pull(report, folder, url)
    _interface(report, folder, department_api, url)
    return report
