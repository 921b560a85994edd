"""R5: the second factor (TOTP, RFC 6238) of the accounts that administer the platform.

The platform's administrators — users holding the admin role at the authority or the operator — must
log in with a one-time code; any other user may choose to. Enrolment shows a fresh secret; the secret is
stored only once the user proves, with a valid code, that their authenticator holds it. Until then the
secret travels in the enrolment form, bound to the user by an HMAC-SM3 proof under the platform's key,
so that showing the enrolment page writes nothing.

R5/R26: the stored secret is encrypted at rest (`User.totp_secret` holds `sm4:1:…`, SM4 + HMAC-SM3 under
the platform's secret key, as the passwords of pulled databases are: `gongshu.kernel.crypto.sm4`). A clear
base32 secret — written before secrets were encrypted, and left by the migration that encrypts them only
when it could not reach the platform's key — is recognised by the missing prefix, still verifies, and is
replaced by its encrypted form at its next successful verification (`verify_user_code`).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto import sm4
from gongshu.kernel.crypto.sm import constant_time_equal, hmac_sm3_hex
from gongshu.kernel.errors import Conflict, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind, Role, RoleAssignment, User
from gongshu.kernel.timeutil import now

ISSUER = "gongshu"
SECRET_SHAPE = re.compile(r"^[A-Z2-7]{32}$")
CODE_SHAPE = re.compile(r"^\d{6}$")
REQUIRED_KINDS = (OrgKind.AUTHORITY.value, OrgKind.OPERATOR.value)


@dataclass(frozen=True)
class Enrolment:
    """A fresh TOTP secret offered to a user, with its otpauth URI and the proof that binds it to them."""

    secret: str
    uri: str
    proof: str

    def qr_svg(self) -> str:
        """The otpauth URI as an inline SVG QR code (made locally; nothing is fetched)."""
        import segno

        out = io.BytesIO()
        segno.make(self.uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True)
        return out.getvalue().decode()


def second_factor_required(session: Session, user: User) -> bool:
    """R5: an administrator of the authority or the operator logs in with a second factor; so does any
    user who enrolled one of their own accord."""
    if user.totp_enabled:
        return True
    return enrolment_required(session, user)


def enrolment_required(session: Session, user: User) -> bool:
    """R5: the user holds the admin role at the authority or the operator and must use a second factor."""
    found = session.scalar(
        select(RoleAssignment.id)
        .join(Organisation, Organisation.id == RoleAssignment.organisation_id)
        .where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.role == Role.ADMIN.value,
            Organisation.kind.in_(REQUIRED_KINDS),
        )
        .limit(1)
    )
    return found is not None


def _proof(user: User, secret: str) -> str:
    key = get_settings().resolved_secret_key().encode()
    return hmac_sm3_hex(key, f"totp-enrolment:{user.id}:{secret}".encode())


def new_enrolment(user: User, secret: str | None = None) -> Enrolment:
    """A secret to show on the enrolment page (nothing is written until `confirm_enrolment`)."""
    secret = secret or pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri, proof=_proof(user, secret))


def verify_code(secret: str | None, code: str) -> bool:
    """A 6-digit code of the current 30-second step (one step of clock drift either way is accepted)."""
    code = code.strip().replace(" ", "")
    if not secret or not CODE_SHAPE.match(code):
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=now(), valid_window=1))


def encrypt_stored_secret(secret: str) -> str:
    """R5/R26: the form of a TOTP secret kept in `User.totp_secret`: `sm4:1:…`, never the clear secret."""
    return sm4.encrypt_secret(secret)


def is_clear_secret(stored: str | None) -> bool:
    """A legacy clear secret (stored before R26 encryption at rest): no `sm4:1:` prefix."""
    return bool(stored) and not (stored or "").startswith(sm4.PREFIX)


def stored_secret(user: User) -> str | None:
    """R5: the clear secret of the user's authenticator, decrypted from `User.totp_secret` (a legacy clear
    value is taken as is). A secret encrypted under another key is refused (`crypto.secret_tampered`)."""
    stored = user.totp_secret
    if not stored:
        return None
    return sm4.decrypt_secret(stored) if stored.startswith(sm4.PREFIX) else stored


def verify_user_code(user: User, code: str) -> bool:
    """R5: a code of the user's own authenticator (`verify_code` on the decrypted secret). R26: a legacy
    clear secret that verifies is replaced by its encrypted form (the caller's unit of work writes it)."""
    ok = verify_code(stored_secret(user), code)
    if ok and is_clear_secret(user.totp_secret):
        user.totp_secret = encrypt_stored_secret(user.totp_secret or "")
    return ok


def confirm_enrolment(
    session: Session, actor: Actor, user: User, *, secret: str, proof: str, code: str
) -> None:
    """R5: store the secret and turn the second factor on, once a valid code proves the user's
    authenticator holds it."""
    if user.totp_enabled:
        raise Conflict(
            "auth.totp_already_enabled",
            "该账号已启用动态验证码",
            "Two-factor authentication is already on",
        )
    secret = secret.strip().upper()
    if not SECRET_SHAPE.match(secret) or not constant_time_equal(proof, _proof(user, secret)):
        raise ValidationFailed(
            "auth.totp_enrolment_invalid",
            "绑定信息已失效，请刷新页面重新绑定",
            "The enrolment form is invalid; reload the page and start again",
            field="code",
        )
    if not verify_code(secret, code):
        raise ValidationFailed(
            "auth.totp_invalid",
            "动态验证码不正确，请输入验证器中当前显示的6位数字",
            "Wrong one-time code; enter the 6 digits your authenticator shows now",
            field="code",
        )
    user.totp_secret = encrypt_stored_secret(secret)
    user.totp_enabled = True
    session.flush()
    record(session, actor, "auth.totp_enrol", object_type="user", object_id=user.id)


def disable(session: Session, actor: Actor, user: User, *, code: str) -> None:
    """R5: a user who chose a second factor may turn it off with a valid code; an administrator of the
    authority or the operator may not."""
    if not user.totp_enabled:
        raise Conflict("auth.totp_not_enabled", "该账号未启用动态验证码", "Two-factor authentication is off")
    if enrolment_required(session, user):
        raise ValidationFailed(
            "auth.totp_mandatory",
            "平台管理员必须使用动态验证码，不能关闭",
            "Platform administrators must keep two-factor authentication on",
        )
    if not verify_user_code(user, code):
        raise ValidationFailed(
            "auth.totp_invalid",
            "动态验证码不正确",
            "Wrong one-time code",
            field="code",
        )
    user.totp_secret = None
    user.totp_enabled = False
    session.flush()
    record(session, actor, "auth.totp_disable", object_type="user", object_id=user.id)
