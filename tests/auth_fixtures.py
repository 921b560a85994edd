"""A small city for the identity tests: the authority, the operator, the municipal government, two
departments (one managing a public service organisation) and their users."""

from __future__ import annotations

import datetime as dt
import re

from gongshu.kernel.db import session_scope
from gongshu.kernel.identifiers.checks import make_id_number, make_uscc
from gongshu.kernel.identity.models import OrgKind
from gongshu.kernel.identity.service import create_organisation, create_user

PASSWORD = "Xiamen2024pass"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def uscc(n: int) -> str:
    """A valid USCC (GB 32100) of a Xiamen government body, numbered n."""
    return make_uscc(f"11350200{n:09d}")


def id_number(seq: int) -> str:
    """A valid resident ID number (GB 11643) of someone born in Xiamen."""
    return make_id_number("350203", dt.date(1990, 5, 17), seq)


def seed_city() -> None:
    with session_scope() as s:
        create_organisation(
            s,
            code="authority",
            name_zh="市大数据管理局",
            name_en="Big Data Authority",
            kind=OrgKind.AUTHORITY,
            uscc=uscc(1),
        )
        create_organisation(
            s,
            code="operator",
            name_zh="市信息中心",
            kind=OrgKind.OPERATOR,
            uscc=uscc(2),
            parent_code="authority",
        )
        create_organisation(
            s, code="gov", name_zh="市人民政府", kind=OrgKind.MUNICIPAL_GOVERNMENT, uscc=uscc(3)
        )
        create_organisation(
            s, code="health", name_zh="市卫生健康委员会", kind=OrgKind.DEPARTMENT, uscc=uscc(4)
        )
        create_organisation(
            s,
            code="hospital-1",
            name_zh="市第一医院",
            kind=OrgKind.PUBLIC_SERVICE_ORG,
            uscc=uscc(5),
            parent_code="health",
        )
        create_organisation(s, code="edu", name_zh="市教育局", kind=OrgKind.DEPARTMENT, uscc=uscc(6))
        create_user(
            s,
            username="admin",
            display_name="平台管理员",
            password=PASSWORD,
            org_code="authority",
            roles=["admin"],
        )
        create_user(
            s,
            username="zhang",
            display_name="张三",
            password=PASSWORD,
            org_code="health",
            roles=["data_officer", "org_admin"],
        )
        create_user(
            s,
            username="li",
            display_name="李四",
            password=PASSWORD,
            org_code="health",
            roles=["catalog_officer"],
        )
        create_user(
            s, username="wang", display_name="王五", password=PASSWORD, org_code="edu", roles=["reviewer"]
        )


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    m = CSRF_FIELD.search(html)
    assert m, "the page has no csrf_token field"
    return m.group(1)
