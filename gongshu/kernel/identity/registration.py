"""R5: self-registration of the public — natural persons (resident ID number, GB 11643) and legal persons
(unified social credit code, GB 32100). Each gets an account organisation of its own, holding the
public role; no two accounts share an ID number or a USCC.

Every field is checked before anything is written; the refusal carries the first problem as its code and
all of them in `details["errors"]` (field → code, zh, en) so that a form can show each one inline.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, GongshuError, ValidationFailed
from gongshu.kernel.identifiers.checks import check_id_number, check_uscc
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind, Role, User
from gongshu.kernel.identity.passwords import check_password_policy
from gongshu.kernel.identity.service import USERNAME, create_organisation, create_user

MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
Errors = dict[str, tuple[str, str, str]]  # field → (code, zh, en)


def _phone(value: str) -> str:
    v = re.sub(r"[\s\-]", "", value.strip())
    return v[3:] if v.startswith("+86") else v


def _check_common(
    session: Session,
    errors: Errors,
    *,
    username: str,
    password: str,
    password_confirm: str | None,
    phone: str,
    landline_ok: bool,
) -> None:
    if not USERNAME.match(username):
        errors["username"] = (
            "register.invalid_username",
            "用户名应为2至80位字母、数字、点、下划线、@或连字符，以字母或数字开头",
            "A username has 2 to 80 letters, digits, dots, underscores, @ or hyphens",
        )
    elif session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        errors["username"] = (
            "register.username_taken",
            "该用户名已被注册，请换一个",
            "This username is taken; choose another",
        )
    if not (MOBILE.match(phone) or (landline_ok and LANDLINE.match(phone))):
        errors["phone"] = (
            "register.invalid_phone",
            "请填写11位手机号码" + ("或带区号的固定电话" if landline_ok else ""),
            "Give an 11-digit mobile number" + (" or a landline with its area code" if landline_ok else ""),
        )
    try:
        check_password_policy(password)
    except GongshuError as exc:
        errors["password"] = (exc.code, exc.message_zh, exc.message_en)
    if password_confirm is not None and password_confirm != password:
        errors["password_confirm"] = (
            "register.password_mismatch",
            "两次输入的密码不一致",
            "The two passwords differ",
        )


def _refuse(errors: Errors) -> None:
    if not errors:
        return
    field, (code, zh, en) = next(iter(errors.items()))
    cls = Conflict if code in ("register.already_registered", "register.username_taken") else ValidationFailed
    raise cls(
        code,
        zh,
        en,
        field=field,
        details={"errors": {f: {"code": c, "zh": z, "en": e} for f, (c, z, e) in errors.items()}},
    )


def _audit_actor(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        org_id=user.organisation_id,
        via="register",
    )


def register_person(
    session: Session,
    *,
    username: str,
    name: str,
    id_number: str,
    phone: str,
    password: str,
    password_confirm: str | None = None,
    ip: str | None = None,
) -> User:
    """R5: a natural person registers with their name and resident ID number (checked per GB 11643)."""
    username, name, phone = username.strip(), name.strip(), _phone(phone)
    errors: Errors = {}
    if not 2 <= len(name) <= 60:
        errors["name"] = ("register.invalid_name", "请填写2至60字的姓名", "Give a name of 2 to 60 characters")
    check = check_id_number(id_number)
    if not check.valid:
        errors["id_number"] = (
            "register.invalid_id_number",
            f"身份证号码无效：{check.error_zh}",
            f"Invalid resident ID number: {check.error_en}",
        )
    elif session.scalar(select(Organisation.id).where(Organisation.id_number == check.normalized)):
        errors["id_number"] = (
            "register.already_registered",
            "该身份证号码已注册过账号，请直接登录",
            "An account with this ID number exists; log in instead",
        )
    _check_common(
        session,
        errors,
        username=username,
        password=password,
        password_confirm=password_confirm,
        phone=phone,
        landline_ok=False,
    )
    _refuse(errors)
    org = create_organisation(
        session,
        code=f"P-{secrets.token_hex(8)}",
        name_zh=name,
        kind=OrgKind.PERSON,
        id_number=check.normalized,
    )
    return _public_account(
        session,
        org,
        username=username,
        display_name=name,
        password=password,
        phone=phone,
        ip=ip,
        action="register.person",
        subject_key=org.id_number or "",
    )


def register_company(
    session: Session,
    *,
    username: str,
    name: str,
    uscc: str,
    contact_name: str,
    phone: str,
    password: str,
    password_confirm: str | None = None,
    ip: str | None = None,
) -> User:
    """R5: a legal person (or unincorporated organisation) registers with its unified social credit code
    (checked per GB 32100) and a contact person."""
    username, name, contact_name, phone = username.strip(), name.strip(), contact_name.strip(), _phone(phone)
    errors: Errors = {}
    if not 2 <= len(name) <= 200:
        errors["name"] = (
            "register.invalid_name",
            "请填写2至200字的单位名称",
            "Give an organisation name of 2 to 200 characters",
        )
    check = check_uscc(uscc)
    if not check.valid:
        errors["uscc"] = (
            "register.invalid_uscc",
            f"统一社会信用代码无效：{check.error_zh}",
            f"Invalid unified social credit code: {check.error_en}",
        )
    elif session.scalar(select(Organisation.id).where(Organisation.uscc == check.normalized)):
        errors["uscc"] = (
            "register.already_registered",
            "该统一社会信用代码已注册过账号，请直接登录",
            "An account with this USCC exists; log in instead",
        )
    if not 2 <= len(contact_name) <= 60:
        errors["contact_name"] = (
            "register.invalid_contact",
            "请填写2至60字的联系人姓名",
            "Give a contact name of 2 to 60 characters",
        )
    _check_common(
        session,
        errors,
        username=username,
        password=password,
        password_confirm=password_confirm,
        phone=phone,
        landline_ok=True,
    )
    _refuse(errors)
    org = create_organisation(
        session, code=f"LE-{check.normalized}", name_zh=name, kind=OrgKind.LEGAL_ENTITY, uscc=check.normalized
    )
    return _public_account(
        session,
        org,
        username=username,
        display_name=contact_name,
        password=password,
        phone=phone,
        ip=ip,
        action="register.legal_entity",
        subject_key=org.uscc or "",
    )


def _public_account(
    session: Session,
    org: Organisation,
    *,
    username: str,
    display_name: str,
    password: str,
    phone: str,
    ip: str | None,
    action: str,
    subject_key: str,
) -> User:
    """R5: the account of a registered person or company: the public role in its own organisation."""
    user = create_user(
        session,
        username=username,
        display_name=display_name,
        password=password,
        org_code=org.code,
        roles=[Role.PUBLIC.value],
        phone=phone,
    )
    record(
        session,
        _audit_actor(user),
        action,
        object_type="user",
        object_id=user.id,
        detail={"org": org.code, "ip": ip},
        subject_keys=[subject_key],
    )
    return user
