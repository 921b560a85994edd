"""One workflow engine for every application kind: cases, ordered steps, history, attachments,
followers and in-app notifications. Kinds are declared as data in the policy file."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class Case(Base):
    __tablename__ = "wf_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    policy_version_id: Mapped[str] = mapped_column(ForeignKey("policy_version.id"))
    # draft, in_review, returned, approved, rejected, withdrawn
    status: Mapped[str] = mapped_column(String(30), index=True, default="in_review")
    title: Mapped[str] = mapped_column(String(300))
    # R28: the title in English for English pages (None for cases opened before it was kept).
    title_en: Mapped[str | None] = mapped_column(String(300), default=None)
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    subject_type: Mapped[str] = mapped_column(String(60), default="")
    subject_id: Mapped[str] = mapped_column(String(80), default="", index=True)
    # Organisations a step may be assigned to by reference ("subject.provider", ...), resolved at submission.
    parties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome_reasons: Mapped[str | None] = mapped_column(Text, default=None)
    sealed_decision: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    escalation_level: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, onupdate=now)

    steps: Mapped[list[Step]] = relationship(
        back_populates="case", order_by="Step.seq", lazy="selectin", cascade="all, delete-orphan"
    )

    def title_in(self, lang: str = "zh") -> str:
        """R28: the title in the page language: the English one on English pages when the case has one,
        the Chinese one otherwise."""
        return self.title if lang.startswith("zh") or not self.title_en else self.title_en


class Step(Base):
    __tablename__ = "wf_step"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(60))
    assignee_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    assignee_role: Mapped[str] = mapped_column(String(40))
    # waiting (not yet reached), active, done, cancelled
    state: Mapped[str] = mapped_column(String(20), default="waiting", index=True)
    deadline_key: Mapped[str | None] = mapped_column(String(60), default=None)
    working_days: Mapped[int | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    start_day: Mapped[dt.date | None] = mapped_column(default=None)
    due_on: Mapped[dt.date | None] = mapped_column(default=None, index=True)
    due_provisional: Mapped[bool] = mapped_column(default=False)
    decision: Mapped[str | None] = mapped_column(String(20), default=None)
    reasons: Mapped[str | None] = mapped_column(Text, default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    overdue_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    due_soon_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    case: Mapped[Case] = relationship(back_populates="steps")


class CaseEvent(Base):
    """The full history of a case, oldest first."""

    __tablename__ = "wf_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=now)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    actor_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), default=None)
    event: Mapped[str] = mapped_column(String(40))
    step_seq: Mapped[int | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseAttachment(Base):
    __tablename__ = "wf_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    step_seq: Mapped[int | None] = mapped_column(default=None)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column()
    sm3: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(500))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=now)


class CaseFollower(Base):
    __tablename__ = "wf_follower"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)


class Notification(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now, index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
