"""R5: the users of the platform's organisations, their roles per organisation, and the actor that every
command acts as. The organisation functions (`organisations.py`) and the login (`login.py`) are reachable
from here too, as the identity service's single entry point."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.login import authenticate
from gongshu.kernel.identity.models import (
    PUBLIC_KINDS,
    Organisation,
    OrgKind,
    Role,
    RoleAssignment,
    User,
)
from gongshu.kernel.identity.organisations import (
    create_organisation,
    find_org_by_code,
    get_org_by_code,
    org_of_kind,
)
from gongshu.kernel.identity.passwords import check_password_policy, hash_password, verify_password

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{1,79}$")
ADMIN_KINDS = frozenset({OrgKind.AUTHORITY, OrgKind.OPERATOR})

__all__ = [
    "authenticate",
    "build_actor",
    "create_organisation",
    "create_user",
    "find_org_by_code",
    "get_org_by_code",
    "get_user",
    "get_user_by_username",
    "grant_role",
    "org_of_kind",
    "organisations_by_ids",
    "role_assignments",
    "set_password",
    "users_with_role",
]


# --- users and roles -----------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found", "用户不存在", "No such user")
    return user


def get_user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        raise NotFound("user.not_found", f"用户 {username} 不存在", f"No user {username}")
    return user


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationFailed(
            "user.invalid_role", f"角色 {role} 无效", f"Unknown role {role}", field="roles"
        ) from None


def _check_role_fits(org: Organisation, role: Role) -> None:
    """R5: the public's accounts hold only the public role; platform administration belongs to the
    authority and the operator."""
    public_org = org.kind in PUBLIC_KINDS
    if public_org != (role == Role.PUBLIC):
        raise ValidationFailed(
            "user.role_not_allowed",
            f"{org.name_zh}不能授予角色 {role.value}（公众账户只有公众角色）",
            f"Role {role.value} cannot be held in {org.code} (public accounts hold only the public role)",
            field="roles",
        )
    if role == Role.ADMIN and org.kind not in ADMIN_KINDS:
        raise ValidationFailed(
            "user.role_not_allowed",
            "平台管理员角色只能由主管部门或运营单位的用户担任",
            "The platform administrator role belongs to the authority or the operator",
            field="roles",
        )


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    org_code: str,
    roles: Sequence[str],
    extra_roles: Iterable[tuple[str, str]] = (),
    email: str | None = None,
    phone: str | None = None,
    language: str = "zh",
    actor: Actor | None = None,
    password_hash: str | None = None,
) -> User:
    """R5: an account of an organisation, with roles in it (and optionally in other organisations).
    `password_hash`, when given, is `hash_password(password)` made once by the caller for many accounts that
    share an initial password (argon2 is slow by design); the password itself is still checked against the
    password policy."""
    username, display_name = username.strip(), display_name.strip()
    if not USERNAME.match(username):
        raise ValidationFailed(
            "user.invalid_username",
            "用户名应为2至80位字母、数字、点、下划线、@或连字符，以字母或数字开头",
            "A username has 2 to 80 letters, digits, dots, underscores, @ or hyphens, "
            "starting with a letter or digit",
            field="username",
        )
    if not display_name or len(display_name) > 120:
        raise ValidationFailed(
            "user.invalid_display_name",
            "姓名不能为空且不超过120字",
            "A name of 1 to 120 characters is required",
            field="display_name",
        )
    check_password_policy(password)
    org = get_org_by_code(session, org_code)
    pairs: list[tuple[Organisation, Role]] = [(org, _role(r)) for r in roles]
    for other_code, r in extra_roles:
        pairs.append((get_org_by_code(session, other_code), _role(r)))
    for o, r in pairs:
        _check_role_fits(o, r)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict(
            "user.duplicate_username",
            f"用户名 {username} 已被使用",
            f"The username {username} is taken",
            field="username",
        )
    user = User(
        username=username,
        display_name=display_name,
        organisation_id=org.id,
        password_hash=password_hash or hash_password(password),
        email=email,
        phone=phone,
        language="en" if language.startswith("en") else "zh",
    )
    session.add(user)
    session.flush()
    for org_id, role in dict.fromkeys((o.id, r.value) for o, r in pairs):
        session.add(RoleAssignment(user_id=user.id, organisation_id=org_id, role=role))
    session.flush()
    record(
        session,
        actor or SYSTEM,
        "user.create",
        object_type="user",
        object_id=user.id,
        detail={
            "username": username,
            "org": org_code,
            "roles": sorted({f"{o.code}:{r.value}" for o, r in pairs}),
        },
    )
    return user


def grant_role(session: Session, user: User, org_code: str, role: str, *, actor: Actor | None = None) -> None:
    """R5: give a user a role in an organisation (idempotent)."""
    org = get_org_by_code(session, org_code)
    r = _role(role)
    _check_role_fits(org, r)
    exists = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.organisation_id == org.id,
            RoleAssignment.role == r.value,
        )
    )
    if exists:
        return
    session.add(RoleAssignment(user_id=user.id, organisation_id=org.id, role=r.value))
    session.flush()
    from gongshu.kernel.identity.tokens import forget_token_actors  # tokens build actors from here

    forget_token_actors(session)  # R5: token actors kept by this process take the new role at once
    record(
        session,
        actor or SYSTEM,
        "user.role_grant",
        object_type="user",
        object_id=user.id,
        detail={"org": org_code, "role": r.value},
    )


def set_password(
    session: Session,
    user: User,
    new_password: str,
    *,
    actor: Actor | None = None,
    current_password: str | None = None,
) -> None:
    """R5: change a password (the user gives the current one; an administrator or the CLI need not)."""
    if current_password is not None and not verify_password(user.password_hash, current_password):
        raise ValidationFailed(
            "auth.wrong_current_password",
            "当前密码不正确",
            "The current password is wrong",
            field="current_password",
        )
    check_password_policy(new_password, field="new_password")
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    record(session, actor or SYSTEM, "user.password_set", object_type="user", object_id=user.id)


def users_with_role(session: Session, org_id: int, role: str) -> list[User]:
    """The active users holding `role` in organisation `org_id` (e.g. the assignees of a workflow step)."""
    stmt = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.organisation_id == org_id, RoleAssignment.role == role, User.active.is_(True))
        .order_by(User.id)
    )
    return list(session.scalars(stmt).unique())


def build_actor(session: Session, user: User, via: str = "session") -> Actor:
    """R5: the actor of a user — roles per organisation, and the public service organisations managed by
    each department in which the user holds a role (a department acts for them too)."""
    rows = session.execute(
        select(RoleAssignment.organisation_id, RoleAssignment.role).where(RoleAssignment.user_id == user.id)
    ).all()
    roles = frozenset((int(o), str(r)) for o, r in rows)
    role_orgs = {o for o, _ in roles}
    managed: set[int] = set()
    if role_orgs:
        departments = session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_(role_orgs), Organisation.kind == OrgKind.DEPARTMENT.value
            )
        ).all()
        if departments:
            managed = set(
                session.scalars(
                    select(Organisation.id).where(
                        Organisation.parent_id.in_(departments),
                        Organisation.kind == OrgKind.PUBLIC_SERVICE_ORG.value,
                        Organisation.active.is_(True),
                    )
                ).all()
            )
    org = user.organisation
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        org_id=org.id,
        org_kind=org.kind,
        org_code=org.code,
        roles=roles,
        managed_org_ids=frozenset(managed),
        via=via,
        language=user.language,
    )


def role_assignments(session: Session, user_id: int) -> list[tuple[Organisation, str]]:
    """R5: the (organisation, role) pairs a user holds, for the account page and the API."""
    rows = session.execute(
        select(Organisation, RoleAssignment.role)
        .join(RoleAssignment, RoleAssignment.organisation_id == Organisation.id)
        .where(RoleAssignment.user_id == user_id)
        .order_by(Organisation.id, RoleAssignment.role)
    ).all()
    return [(org, str(role)) for org, role in rows]


def organisations_by_ids(session: Session, ids: Iterable[int]) -> list[Organisation]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(
        session.scalars(select(Organisation).where(Organisation.id.in_(wanted)).order_by(Organisation.id))
    )
