"""`gongshu demo`: load the demo city into the configured database (idempotent) and report the logins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.demo.city import (
    ALL_ORGS,
    CITY_REGION,
    COMPANIES,
    DEPARTMENT_ROLES,
    PERSONS,
    PLATFORM_USERS,
    PUBLIC_SERVICE_ORGS,
)
from gongshu.kernel.identifiers.checks import make_id_number, make_uscc
from gongshu.kernel.identity import service as identity
from gongshu.kernel.identity import totp
from gongshu.kernel.identity.models import User
from gongshu.kernel.identity.passwords import hash_password

DEMO_PASSWORD = "Demo2026gongshu"
# The demo administrators' TOTP secret, printed so that an authenticator app can be set up for the demo
# (stored encrypted like any other, R5/R26).
DEMO_TOTP_SECRET = "GONGSHUDEMOTOTPSECRETAAAAAAAAAAA"


@dataclass
class DemoReport:
    created: bool
    organisations: int = 0
    users: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, organisation, roles
    totp_users: list[str] = field(default_factory=list)
    catalog_entries: int = 0
    data_loaded: list[str] = field(default_factory=list)  # resources given demo records
    sharing: Any = None  # gongshu.demo.sharing.SharingReport, when the city was just created
    objection_case_id: int | None = None  # R14: 张三's objection, waiting for the provider
    external: Any = None  # gongshu.demo.external.ExternalReport: the pull source, the service interface


_demo_hash: list[str] = []


def _user(session: Session, username: str, name: str, org: str, roles: list[str]) -> User:
    """Every demo account has the same published password: it is hashed once (argon2 is slow by design)."""
    if not _demo_hash:
        _demo_hash.append(hash_password(DEMO_PASSWORD))
    return identity.create_user(
        session,
        username=username,
        display_name=name,
        password=DEMO_PASSWORD,
        org_code=org,
        roles=roles,
        password_hash=_demo_hash[0],
    )


def load_city(session: Session) -> DemoReport:
    """Organisations, users for every role, public accounts (R5)."""
    if identity.find_org_by_code(session, "authority") is not None:
        return _report_existing(session)
    report = DemoReport(created=True)
    for org in ALL_ORGS:
        identity.create_organisation(
            session,
            code=org.code,
            name_zh=org.name_zh,
            name_en=org.name_en,
            kind=org.kind,
            uscc=make_uscc(org.uscc_prefix),
            parent_code=org.parent,
        )
        report.organisations += 1
    for username, name, org_code, roles in PLATFORM_USERS:
        user = _user(session, username, name, org_code, roles)
        if "admin" in roles:
            user.totp_secret = totp.encrypt_stored_secret(DEMO_TOTP_SECRET)
            user.totp_enabled = True
            report.totp_users.append(username)
        report.logins.append((username, org_code, ",".join(roles)))
    for org in ALL_ORGS:
        if org.kind not in ("department", "public_service_org"):
            continue
        for suffix, role in DEPARTMENT_ROLES.items():
            if org.kind == "public_service_org" and role == "auditor":
                continue
            _user(session, f"{org.code}.{suffix}", f"{org.name_zh}{_ROLE_ZH[role]}", org.code, [role])
    for username, name, birth, seq in PERSONS:
        id_number = make_id_number(CITY_REGION + "", dt.date.fromisoformat(birth), seq)
        identity.create_organisation(
            session, code=f"person.{username}", name_zh=name, kind="person", id_number=id_number
        )
        _user(session, username, name, f"person.{username}", ["public"])
        report.logins.append((username, f"{name}（{id_number}）", "public"))
    for username, name, uscc_prefix in COMPANIES:
        uscc = make_uscc(uscc_prefix[:17])
        identity.create_organisation(
            session, code=f"company.{username}", name_zh=name, kind="legal_entity", uscc=uscc
        )
        _user(session, username, name + "经办人", f"company.{username}", ["public"])
        report.logins.append((username, f"{name}（{uscc}）", "public"))
        report.organisations += 1
    report.organisations += len(PERSONS)
    for code in ("civil_affairs", "public_security", "market_supervision", "water"):
        for suffix in DEPARTMENT_ROLES:
            if code == "water" and suffix == "auditor":
                continue
            report.logins.append((f"{code}.{suffix}", code, DEPARTMENT_ROLES[suffix]))
    report.users = session.query(User).count()
    return report


_ROLE_ZH = {
    "catalog_officer": "目录管理员",
    "data_officer": "数据管理员",
    "reviewer": "审核员",
    "org_admin": "单位管理员",
    "auditor": "审计员",
}


def _report_existing(session: Session) -> DemoReport:
    report = DemoReport(created=False)
    report.users = session.query(User).count()
    for username, _name, org_code, roles in PLATFORM_USERS:
        report.logins.append((username, org_code, ",".join(roles)))
        if "admin" in roles:
            report.totp_users.append(username)
    return report


__all__ = ["DEMO_PASSWORD", "DEMO_TOTP_SECRET", "PUBLIC_SERVICE_ORGS", "DemoReport", "load_city"]


def load_demo(
    url: str | None = None, *, data: bool | None = None, department_api: str | None = None
) -> DemoReport:
    """Load every part of the demo city in one transaction (all or nothing), then its records through the
    ingestion pipeline (`gongshu.demo.data`, idempotent; by default only for the configured database, as
    `gongshu demo` does — callers naming a database opt in with `data=True`), then the databases outside
    the platform (`gongshu.demo.external`, idempotent): the scheduled pull, and the service interface at
    `department_api` (the stand-in department API's address, `http://127.0.0.1:8001` by default)."""
    from gongshu.demo.external import DEPARTMENT_API, load_external
    from gongshu.kernel.db import session_scope

    with session_scope(url) as session:
        report = load_city(session)
        if report.created:  # the catalog comes with a new city, in the same transaction
            from gongshu.demo.catalog import load_catalog

            report.catalog_entries = load_catalog(session).entries
    if data if data is not None else url is None:
        from gongshu.demo.data import load_demo_data

        report.data_loaded = sorted(load_demo_data(url).loaded)
    if report.created:  # R15–R21: the city's sharing history, after its records (streams, tables)
        from gongshu.demo.sharing import load_sharing

        report.sharing = load_sharing(url)
    if report.created and report.data_loaded:
        report.objection_case_id = _objection(url)
    report.external = load_external(url, department_api or DEPARTMENT_API)
    return report


def _objection(url: str | None) -> int | None:
    """R14: 张三 objects to his household address in the population base (with a note as evidence); the
    case waits for public security within the policy's working days."""
    from gongshu.demo.data import POPULATION
    from gongshu.kernel.db import session_scope
    from gongshu.kernel.identity.service import build_actor
    from gongshu.quality.objections import file_objection, my_data

    username, name = PERSONS[0][0], PERSONS[0][1]
    with session_scope(url) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            return None
        actor = build_actor(session, user)
        mine = my_data(session, actor)  # what 张三 sees under "my data" (his reads are audited, R26)
        code = next((d["entry"].resource_code for d in mine if d["entry"].name == POPULATION), None)
        if code is None:
            return None
        case = file_objection(
            session,
            actor,
            code,
            field="household_address",
            claimed_value="福建省厦门市思明区鹭江道100号",
            reason=f"{name}已于去年迁居，户籍地址登记的仍是旧址。",
            evidence=(
                "迁居说明.pdf",
                _pdf("Household moved; registered at the police station, receipt XM-2025-0312."),
            ),
        )
        return case.id


def _pdf(line: str) -> bytes:
    """A one-page PDF holding one line of (ASCII) text: the demo's evidence file (R14 accepts documents
    and images only)."""
    text = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
