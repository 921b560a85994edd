"""R5: organisations (authority, operator, departments, public service organisations, the municipal
government, public accounts), users, roles per organisation, web sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class OrgKind(enum.StrEnum):
    """R5 organisation kinds, plus the public's accounts (natural and legal persons)."""

    AUTHORITY = "authority"
    OPERATOR = "operator"
    DEPARTMENT = "department"
    PUBLIC_SERVICE_ORG = "public_service_org"
    MUNICIPAL_GOVERNMENT = "municipal_government"
    UPSTREAM = "upstream"  # national/provincial bodies whose return data is catalogued (R20)
    PERSON = "person"
    LEGAL_ENTITY = "legal_entity"


GOVERNMENT_KINDS = frozenset(
    {
        OrgKind.AUTHORITY,
        OrgKind.OPERATOR,
        OrgKind.DEPARTMENT,
        OrgKind.PUBLIC_SERVICE_ORG,
        OrgKind.MUNICIPAL_GOVERNMENT,
    }
)
PUBLIC_KINDS = frozenset({OrgKind.PERSON, OrgKind.LEGAL_ENTITY})


class Role(enum.StrEnum):
    """Roles a user holds in an organisation (R5)."""

    CATALOG_OFFICER = "catalog_officer"
    DATA_OFFICER = "data_officer"
    REVIEWER = "reviewer"
    ORG_ADMIN = "org_admin"
    AUDITOR = "auditor"
    PRE_REVIEWER = "pre_reviewer"  # the operator's pre-review (R23)
    ADMIN = "admin"  # platform administrator (authority or operator)
    COORDINATOR = "coordinator"  # the authority's coordination of disputes (R15, R17)
    DECISION_MAKER = "decision_maker"  # the municipal government's decisions (R15, R17)
    PUBLIC = "public"  # a person's or company's own account


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(30), index=True)
    # A legal person's USCC (GB 32100) or a natural person's resident ID number (GB 11643).
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang.startswith("zh") or not self.name_en else self.name_en


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    # R5/R26: the TOTP secret encrypted at rest (`sm4:1:…`, see identity.totp); a clear base32 secret of
    # before the encryption is still read, and encrypted at its next successful verification.
    totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )


class RoleAssignment(Base):
    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))

    user: Mapped[User] = relationship(back_populates="roles")


class WebSession(Base):
    """A browser session: the cookie holds a random token; only its SM3 digest is stored."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)


class ApiToken(Base):
    """A machine credential: `gs_<prefix>_<secret>`; only the SM3 digest of the whole token is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
