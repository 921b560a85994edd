"""R5: organisations, users and roles, login with lockout, sessions, API tokens, TOTP, self-registration —
at the service level, on a real database."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from auth_fixtures import PASSWORD, id_number, seed_city, uscc
from sqlalchemy import func, select

from gongshu.kernel import timeutil
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.crypto.sm import sm3_hex
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError
from gongshu.kernel.identity import login, registration, service, sessions, tokens, totp
from gongshu.kernel.identity.models import ApiToken, Organisation, OrgKind, User
from gongshu.kernel.workflow.models import Notification

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=timeutil.CHINA)


@pytest.fixture()
def city(db_clean: str) -> None:
    seed_city()


def _count(model: type) -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _attempt(username: str, password: str) -> GongshuError | None:
    try:
        with session_scope() as s:
            login.authenticate(s, username, password, "10.0.0.1")
    except GongshuError as exc:
        return exc
    return None


def _audit_actions() -> list[str]:
    with read_scope() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def _wrong_code(secret: str) -> str:
    now = timeutil.now()
    near = {pyotp.TOTP(secret).at(now + dt.timedelta(seconds=k)) for k in (-30, 0, 30)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in near)


# --- organisations ---------------------------------------------------------------------------------


def test_r5_public_service_org_without_parent_department_is_refused(city: None) -> None:
    before = _count(Organisation)
    with pytest.raises(GongshuError) as no_parent, session_scope() as s:
        service.create_organisation(s, code="school-1", name_zh="第一中学", kind=OrgKind.PUBLIC_SERVICE_ORG)
    assert no_parent.value.code == "org.parent_required" and no_parent.value.field == "parent_code"
    with pytest.raises(GongshuError) as wrong_parent, session_scope() as s:
        service.create_organisation(
            s, code="school-1", name_zh="第一中学", kind=OrgKind.PUBLIC_SERVICE_ORG, parent_code="authority"
        )
    assert wrong_parent.value.code == "org.parent_not_department"
    assert _count(Organisation) == before
    with session_scope() as s:
        school = service.create_organisation(
            s, code="school-1", name_zh="第一中学", kind=OrgKind.PUBLIC_SERVICE_ORG, parent_code="edu"
        )
        assert school.parent is not None and school.parent.code == "edu"


def test_r5_organisation_identifiers_are_checked_and_unique(city: None) -> None:
    bad = uscc(7)[:-1] + ("0" if uscc(7)[-1] != "0" else "1")
    with pytest.raises(GongshuError) as err, session_scope() as s:
        service.create_organisation(s, code="tax", name_zh="市税务局", kind=OrgKind.DEPARTMENT, uscc=bad)
    assert err.value.code == "org.invalid_uscc" and "校验码" in err.value.message_zh
    with pytest.raises(GongshuError) as dup, session_scope() as s:
        service.create_organisation(s, code="tax", name_zh="市税务局", kind=OrgKind.DEPARTMENT, uscc=uscc(4))
    assert dup.value.code == "org.duplicate_uscc"
    with pytest.raises(GongshuError) as second, session_scope() as s:
        service.create_organisation(s, code="authority-2", name_zh="另一个主管部门", kind=OrgKind.AUTHORITY)
    assert second.value.code == "org.single_instance"
    with read_scope() as s:
        assert service.org_of_kind(s, OrgKind.AUTHORITY).code == "authority"
        assert service.org_of_kind(s, "municipal_government").code == "gov"


def test_r5_org_of_kind_raises_when_missing(db_clean: str) -> None:
    with pytest.raises(GongshuError) as err, read_scope() as s:
        service.org_of_kind(s, OrgKind.OPERATOR)
    assert err.value.code == "org.kind_missing" and err.value.status_code == 404


# --- users, roles, actor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short1", "password.too_short"),
        ("onlyletterspass", "password.needs_digit"),
        ("1234567890123", "password.needs_letter"),
    ],
)
def test_r5_password_policy_refuses_weak_passwords(city: None, password: str, code: str) -> None:
    before = _count(User)
    with pytest.raises(GongshuError) as err, session_scope() as s:
        service.create_user(
            s, username="zhao", display_name="赵六", password=password, org_code="edu", roles=["reviewer"]
        )
    assert err.value.code == code and err.value.field == "password"
    assert _count(User) == before


def test_r5_roles_must_fit_the_organisation(city: None) -> None:
    with pytest.raises(GongshuError) as err, session_scope() as s:
        service.create_user(
            s, username="zhao", display_name="赵六", password=PASSWORD, org_code="edu", roles=["admin"]
        )
    assert err.value.code == "user.role_not_allowed"
    with pytest.raises(GongshuError) as unknown, session_scope() as s:
        service.create_user(
            s, username="zhao", display_name="赵六", password=PASSWORD, org_code="edu", roles=["emperor"]
        )
    assert unknown.value.code == "user.invalid_role"


def test_r5_build_actor_gives_the_departments_public_service_orgs(city: None) -> None:
    with read_scope() as s:
        hospital = service.get_org_by_code(s, "hospital-1").id
        health = service.get_org_by_code(s, "health").id
        zhang = service.build_actor(s, service.get_user_by_username(s, "zhang"))
        wang = service.build_actor(s, service.get_user_by_username(s, "wang"))
        admin = service.build_actor(s, service.get_user_by_username(s, "admin"))
    assert zhang.managed_org_ids == frozenset({hospital})
    assert zhang.acts_for(hospital) and zhang.acts_for(health)
    assert zhang.has_role("org_admin", health) and not zhang.has_role("org_admin", hospital)
    assert wang.managed_org_ids == frozenset() and not wang.acts_for(hospital)
    assert admin.managed_org_ids == frozenset() and admin.org_kind == "authority"


def test_r5_users_with_role_finds_the_assignees(city: None) -> None:
    with session_scope() as s:
        service.create_user(
            s,
            username="sun",
            display_name="孙七",
            password=PASSWORD,
            org_code="edu",
            roles=["catalog_officer"],
            extra_roles=[("health", "reviewer")],
        )
    with read_scope() as s:
        health = service.get_org_by_code(s, "health")
        assert [u.username for u in service.users_with_role(s, health.id, "catalog_officer")] == ["li"]
        assert [u.username for u in service.users_with_role(s, health.id, "reviewer")] == ["sun"]


# --- login and lockout ---------------------------------------------------------------------------


def test_login_same_error_for_unknown_user_and_wrong_password(city: None) -> None:
    unknown = _attempt("nobody", PASSWORD)
    wrong = _attempt("zhang", "Wrong-password-1")
    assert unknown is not None and wrong is not None
    assert unknown.code == wrong.code == "auth.bad_credentials"
    assert (unknown.message_zh, unknown.message_en, unknown.status_code) == (
        wrong.message_zh,
        wrong.message_en,
        wrong.status_code,
    )
    assert _attempt("ZHANG", PASSWORD) is None  # usernames are case-insensitive


def test_login_lockout_after_max_failures_then_unlock_after_lock_time(city: None) -> None:
    timeutil.freeze(T0)
    for _ in range(4):
        err = _attempt("zhang", "Wrong-password-1")
        assert err is not None and err.code == "auth.bad_credentials"
    fifth = _attempt("zhang", "Wrong-password-1")
    assert fifth is not None and fifth.code == "auth.locked" and fifth.status_code == 423
    assert "09:15" in fifth.message_zh  # unlock time, China time
    right = _attempt("zhang", PASSWORD)  # the right password is refused while locked
    assert right is not None and right.code == "auth.locked"
    timeutil.freeze(T0 + dt.timedelta(minutes=14))
    still = _attempt("zhang", PASSWORD)
    assert still is not None and still.code == "auth.locked"
    timeutil.freeze(T0 + dt.timedelta(minutes=16))
    assert _attempt("zhang", PASSWORD) is None
    with read_scope() as s:
        user = service.get_user_by_username(s, "zhang")
        assert user.failed_logins == 0 and user.locked_until is None
    actions = _audit_actions()
    assert actions.count("auth.lockout") == 1
    assert "auth.login" in actions


def test_login_success_resets_the_failure_counter(city: None) -> None:
    for _ in range(3):
        assert _attempt("li", "Wrong-password-1") is not None
    assert _attempt("li", PASSWORD) is None
    for _ in range(4):
        err = _attempt("li", "Wrong-password-1")
        assert err is not None and err.code == "auth.bad_credentials"


# --- sessions ------------------------------------------------------------------------------------


def test_r5_session_resolves_until_ended_or_expired(city: None) -> None:
    timeutil.freeze(T0)
    with session_scope() as s:
        user = service.get_user_by_username(s, "zhang")
        raw, ws = sessions.start_session(s, user, ip="10.0.0.1", user_agent="pytest", second_factor_done=True)
        raw2, _ = sessions.start_session(s, user, ip=None, user_agent=None, second_factor_done=True)
        s.add(Notification(user_id=user.id, kind="test", message_zh="待办", message_en="to do"))
        s.add(Notification(user_id=user.id, kind="test", message_zh="已读", message_en="read", read_at=T0))
    assert ws.token_hash == sm3_hex(raw.encode()) and raw not in ws.token_hash
    with read_scope() as s:
        resolved = sessions.resolve_session(s, raw)
        assert resolved is not None and resolved[0].username == "zhang" and resolved[0].via == "session"
        assert sessions.unread_count(s, resolved[0]) == 1
        assert sessions.resolve_session(s, "not-a-session") is None
    with session_scope() as s:
        assert sessions.end_session(s, raw)
    with read_scope() as s:
        assert sessions.resolve_session(s, raw) is None
        assert sessions.resolve_session(s, raw2) is not None
    timeutil.freeze(T0 + dt.timedelta(hours=13))
    with read_scope() as s:
        assert sessions.resolve_session(s, raw2) is None


# --- second factor -------------------------------------------------------------------------------


def test_r5_authority_admin_needs_totp_before_the_session_is_complete(city: None) -> None:
    with session_scope() as s:
        admin = login.authenticate(s, "admin", PASSWORD)
        assert totp.second_factor_required(s, admin) and not admin.totp_enabled
        raw, _ = sessions.start_session(s, admin, ip=None, user_agent=None, second_factor_done=False)
    with read_scope() as s:
        assert sessions.resolve_session(s, raw) is None  # not logged in yet
        pending = sessions.resolve_pending_2fa(s, raw)
        assert pending is not None and pending.username == "admin"
        enrolment, pending_id = totp.new_enrolment(pending), pending.id
    with pytest.raises(GongshuError) as wrong, session_scope() as s:
        user = service.get_user(s, pending_id)
        totp.confirm_enrolment(
            s,
            service.build_actor(s, user),
            user,
            secret=enrolment.secret,
            proof=enrolment.proof,
            code=_wrong_code(enrolment.secret),
        )
    assert wrong.value.code == "auth.totp_invalid"
    with pytest.raises(GongshuError) as forged, session_scope() as s:
        user = service.get_user(s, pending_id)
        other = pyotp.random_base32()
        totp.confirm_enrolment(
            s,
            service.build_actor(s, user),
            user,
            secret=other,
            proof=enrolment.proof,
            code=pyotp.TOTP(other).now(),
        )
    assert forged.value.code == "auth.totp_enrolment_invalid"
    with session_scope() as s:
        user = service.get_user(s, pending_id)
        totp.confirm_enrolment(
            s,
            service.build_actor(s, user),
            user,
            secret=enrolment.secret,
            proof=enrolment.proof,
            code=pyotp.TOTP(enrolment.secret).now(),
        )
        new_raw, _ = sessions.complete_second_factor(s, raw)
    with read_scope() as s:
        assert sessions.resolve_session(s, raw) is None  # the half-way token is retired
        actor, _ = sessions.resolve_session(s, new_raw) or (None, None)
        assert actor is not None and actor.has_role("admin")
    assert "auth.totp_enrol" in _audit_actions()


def test_r5_wrong_totp_code_counts_towards_lockout(city: None) -> None:
    secret = pyotp.random_base32()
    with session_scope() as s:
        admin = service.get_user_by_username(s, "admin")
        admin.totp_secret, admin.totp_enabled = secret, True
    timeutil.freeze(T0)
    near = {pyotp.TOTP(secret).at(T0 + dt.timedelta(seconds=k)) for k in (-30, 0, 30)}
    wrong = next(c for c in ("123456", "654321", "111111", "222222") if c not in near)
    codes = []
    for _ in range(5):
        try:
            with session_scope() as s:
                user = login.authenticate(s, "admin", PASSWORD)  # the password is right every time
                login.verify_second_factor(s, user.id, wrong)
        except GongshuError as exc:
            codes.append(exc.code)
    assert codes == ["auth.totp_invalid"] * 4 + ["auth.locked"]
    with pytest.raises(GongshuError) as locked, session_scope() as s:
        login.authenticate(s, "admin", PASSWORD)
    assert locked.value.code == "auth.locked"


# --- API tokens ----------------------------------------------------------------------------------


def test_r5_api_token_is_stored_only_as_its_digest(city: None) -> None:
    with session_scope() as s:
        raw, token = tokens.issue_token(s, service.get_user_by_username(s, "zhang"), name="nightly export")
    assert raw.startswith(f"gs_{token.prefix}_")
    with read_scope() as s:
        row = s.execute(select(ApiToken.__table__)).one()
        assert all(raw not in str(value) for value in row)
        assert row.token_hash == sm3_hex(raw.encode())
        actor = tokens.resolve_api_token(s, raw)
    assert actor.username == "zhang" and actor.via == "token"
    assert "auth.token_issue" in _audit_actions()


def test_r5_api_token_expired_revoked_and_invalid_are_refused(city: None) -> None:
    timeutil.freeze(T0)
    with session_scope() as s:
        zhang = service.get_user_by_username(s, "zhang")
        raw_old, _ = tokens.issue_token(s, zhang, name="short", days=1)
        raw_rev, rev = tokens.issue_token(s, zhang, name="to revoke")
        actor = service.build_actor(s, zhang)
        tokens.revoke_token(s, actor, rev.id)
    timeutil.freeze(T0 + dt.timedelta(days=1, seconds=1))
    for raw, code in [
        (raw_old, "auth.token_expired"),
        (raw_rev, "auth.token_revoked"),
        (raw_rev[:-2] + "xx", "auth.token_invalid"),
        ("gs_nonsense", "auth.token_invalid"),
    ]:
        with pytest.raises(GongshuError) as err, read_scope() as s:
            tokens.resolve_api_token(s, raw)
        assert err.value.code == code and err.value.status_code == 401


def test_r5_only_owner_or_org_admin_revokes_a_token(city: None) -> None:
    with session_scope() as s:
        _raw, token = tokens.issue_token(s, service.get_user_by_username(s, "li"), name="li-token")
    with pytest.raises(GongshuError) as err, session_scope() as s:
        tokens.revoke_token(s, service.build_actor(s, service.get_user_by_username(s, "wang")), token.id)
    assert err.value.code == "auth.token_not_yours" and err.value.status_code == 403
    with session_scope() as s:  # zhang is org_admin of li's department
        revoked = tokens.revoke_token(
            s, service.build_actor(s, service.get_user_by_username(s, "zhang")), token.id
        )
        assert revoked.revoked_at is not None


# --- self-registration ---------------------------------------------------------------------------


def test_r5_registration_with_bad_id_number_is_refused_and_writes_nothing(db_clean: str) -> None:
    good = id_number(123)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(GongshuError) as err, session_scope() as s:
        registration.register_person(
            s, username="chen", name="陈小明", id_number=bad, phone="13800138000", password=PASSWORD
        )
    assert err.value.code == "register.invalid_id_number" and err.value.field == "id_number"
    assert "校验码" in err.value.message_zh
    assert (_count(Organisation), _count(User)) == (0, 0)


def test_r5_registration_with_bad_uscc_is_refused_and_writes_nothing(db_clean: str) -> None:
    with pytest.raises(GongshuError) as err, session_scope() as s:
        registration.register_company(
            s,
            username="acme",
            name="厦门示例科技有限公司",
            uscc="91350200MA2YOOOOOO",
            contact_name="陈经理",
            phone="0592-1234567",
            password=PASSWORD,
        )
    assert err.value.code == "register.invalid_uscc" and "统一社会信用代码" in err.value.message_zh
    assert (_count(Organisation), _count(User)) == (0, 0)


def test_r5_registration_collects_every_field_error(db_clean: str) -> None:
    with pytest.raises(GongshuError) as err, session_scope() as s:
        registration.register_person(
            s,
            username="x",
            name="陈",
            id_number="123",
            phone="123",
            password="short",
            password_confirm="other",
        )
    fields = set(err.value.details["errors"])
    assert fields == {"username", "name", "id_number", "phone", "password", "password_confirm"}


def test_r5_person_and_company_register_once(db_clean: str) -> None:
    person_id = id_number(124)
    with session_scope() as s:
        user = registration.register_person(
            s,
            username="chen",
            name="陈小明",
            id_number=person_id,
            phone="138 0013 8000",
            password=PASSWORD,
            password_confirm=PASSWORD,
        )
        company = registration.register_company(
            s,
            username="acme",
            name="厦门示例科技有限公司",
            uscc=make_company_uscc(),
            contact_name="陈经理",
            phone="0592-1234567",
            password=PASSWORD,
        )
        assert user.organisation.kind == "person" and user.organisation.id_number == person_id
        assert company.organisation.kind == "legal_entity"
        assert service.build_actor(s, user).role_names() == {"public"}
    with pytest.raises(GongshuError) as again, session_scope() as s:
        registration.register_person(
            s,
            username="chen2",
            name="陈小明",
            id_number=person_id.lower(),
            phone="13800138000",
            password=PASSWORD,
        )
    assert again.value.code == "register.already_registered" and again.value.status_code == 409
    assert {"register.person", "register.legal_entity"} <= set(_audit_actions())
    assert _attempt("chen", PASSWORD) is None


def make_company_uscc() -> str:
    from gongshu.kernel.identifiers.checks import make_uscc

    return make_uscc("91350200MA2Y0A0B0")
