"""R5: the organisations of the platform — the authority, the operator, the departments and the public
service organisations they manage, the municipal government, and the public's own accounts."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, NotFound, ValidationFailed
from gongshu.kernel.identifiers.checks import check_id_number, check_uscc
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import Organisation, OrgKind

ORG_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,39}$")
SINGLE_KINDS = frozenset({OrgKind.AUTHORITY, OrgKind.OPERATOR, OrgKind.MUNICIPAL_GOVERNMENT})


def find_org_by_code(session: Session, code: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.code == code))


def get_org_by_code(session: Session, code: str) -> Organisation:
    """The organisation with this code; NotFound `org.not_found` otherwise."""
    org = find_org_by_code(session, code)
    if org is None:
        raise NotFound("org.not_found", f"机构代码 {code} 不存在", f"No organisation has the code {code}")
    return org


def org_of_kind(session: Session, kind: OrgKind | str) -> Organisation:
    """R5: the single authority, operator or municipal government of the platform."""
    kind = _kind(kind)
    org = session.scalar(
        select(Organisation).where(Organisation.kind == kind.value).order_by(Organisation.id).limit(1)
    )
    if org is None:
        raise NotFound(
            "org.kind_missing",
            f"平台尚未登记{_KIND_ZH.get(kind, kind.value)}",
            f"The platform has no organisation of kind {kind.value} yet",
        )
    return org


_KIND_ZH = {
    OrgKind.AUTHORITY: "市大数据主管部门",
    OrgKind.OPERATOR: "市信息中心（运营单位）",
    OrgKind.MUNICIPAL_GOVERNMENT: "市人民政府",
}


def _kind(kind: OrgKind | str) -> OrgKind:
    try:
        return OrgKind(kind)
    except ValueError:
        raise ValidationFailed(
            "org.invalid_kind", f"机构类型 {kind} 无效", f"Unknown organisation kind {kind}", field="kind"
        ) from None


def create_organisation(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str = "",
    kind: OrgKind | str,
    uscc: str | None = None,
    id_number: str | None = None,
    parent_code: str | None = None,
    actor: Actor | None = None,
) -> Organisation:
    """R5: register an organisation. A public service organisation is managed by a department, so it
    must name that department as its parent; there is one authority, one operator and one municipal
    government; a legal person carries a valid USCC (GB 32100), a natural person a valid resident ID
    number (GB 11643), and no two organisations share either."""
    kind = _kind(kind)
    code, name_zh, name_en = code.strip(), name_zh.strip(), name_en.strip()
    if not ORG_CODE.match(code):
        raise ValidationFailed(
            "org.invalid_code",
            "机构代码应为2至40位字母、数字、点、下划线或连字符",
            "An organisation code has 2 to 40 letters, digits, dots, underscores or hyphens",
            field="code",
        )
    if not name_zh or len(name_zh) > 200 or len(name_en) > 200:
        raise ValidationFailed(
            "org.invalid_name",
            "机构中文名称不能为空且不超过200字",
            "A Chinese name of 1 to 200 characters is required",
            field="name_zh",
        )
    uscc = _checked_uscc(uscc, required=kind == OrgKind.LEGAL_ENTITY)
    id_number = _checked_id_number(id_number, kind)
    parent = _checked_parent(session, kind, parent_code)
    if find_org_by_code(session, code) is not None:
        raise Conflict(
            "org.duplicate_code", f"机构代码 {code} 已被使用", f"The code {code} is taken", field="code"
        )
    if kind in SINGLE_KINDS and session.scalar(
        select(Organisation.id).where(Organisation.kind == kind.value)
    ):
        raise Conflict(
            "org.single_instance",
            f"平台只能有一个{_KIND_ZH[kind]}",
            f"The platform has exactly one organisation of kind {kind.value}",
            field="kind",
        )
    if uscc and session.scalar(select(Organisation.id).where(Organisation.uscc == uscc)):
        raise Conflict(
            "org.duplicate_uscc", "该统一社会信用代码已登记", "This USCC is already registered", field="uscc"
        )
    if id_number and session.scalar(select(Organisation.id).where(Organisation.id_number == id_number)):
        raise Conflict(
            "org.duplicate_id_number",
            "该身份证号码已登记",
            "This ID number is already registered",
            field="id_number",
        )
    org = Organisation(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind.value,
        uscc=uscc,
        id_number=id_number,
        parent_id=parent.id if parent else None,
    )
    session.add(org)
    session.flush()
    record(
        session,
        actor or SYSTEM,
        "org.create",
        object_type="organisation",
        object_id=org.id,
        detail={"code": code, "kind": kind.value, "parent": parent_code},
        subject_keys=[id_number] if id_number else None,
    )
    return org


def _checked_uscc(uscc: str | None, *, required: bool) -> str | None:
    if uscc is None or not uscc.strip():
        if required:
            raise ValidationFailed(
                "org.uscc_required",
                "法人须登记统一社会信用代码",
                "A legal entity needs its USCC",
                field="uscc",
            )
        return None
    result = check_uscc(uscc)
    if not result.valid:
        raise ValidationFailed(
            "org.invalid_uscc",
            f"统一社会信用代码无效：{result.error_zh}",
            f"Invalid unified social credit code: {result.error_en}",
            field="uscc",
            details={"check": result.error_code},
        )
    return result.normalized


def _checked_id_number(id_number: str | None, kind: OrgKind) -> str | None:
    if id_number is None or not id_number.strip():
        if kind == OrgKind.PERSON:
            raise ValidationFailed(
                "org.id_number_required",
                "自然人须登记身份证号码",
                "A natural person needs an ID number",
                field="id_number",
            )
        return None
    if kind != OrgKind.PERSON:
        raise ValidationFailed(
            "org.id_number_not_allowed",
            "只有自然人账户登记身份证号码",
            "Only a natural person has an ID number",
            field="id_number",
        )
    result = check_id_number(id_number)
    if not result.valid:
        raise ValidationFailed(
            "org.invalid_id_number",
            f"身份证号码无效：{result.error_zh}",
            f"Invalid resident ID number: {result.error_en}",
            field="id_number",
            details={"check": result.error_code},
        )
    return result.normalized


def _checked_parent(session: Session, kind: OrgKind, parent_code: str | None) -> Organisation | None:
    """R5: a public service organisation is managed by a government department."""
    if not parent_code:
        if kind == OrgKind.PUBLIC_SERVICE_ORG:
            raise ValidationFailed(
                "org.parent_required",
                "公共服务组织必须指定其主管的政务部门",
                "A public service organisation must name the department that manages it",
                field="parent_code",
            )
        return None
    parent = find_org_by_code(session, parent_code)
    if parent is None:
        raise ValidationFailed(
            "org.parent_not_found",
            f"上级机构 {parent_code} 不存在",
            f"No parent organisation {parent_code}",
            field="parent_code",
        )
    if kind == OrgKind.PUBLIC_SERVICE_ORG and parent.kind != OrgKind.DEPARTMENT:
        raise ValidationFailed(
            "org.parent_not_department",
            "公共服务组织的主管单位必须是政务部门",
            "A public service organisation is managed by a government department",
            field="parent_code",
        )
    return parent
