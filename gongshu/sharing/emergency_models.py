"""R21: emergency events, their collection tasks, the resources created for them and the batches
respondents submitted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now

EVENT_STATUSES = ("open", "closed")
TREATMENTS = ("delete", "deidentify")


class EmergencyEvent(Base):
    """R21: an emergency the authority opened — purpose, scope, method, period, the organisation
    responsible for the response, and the responders allowed to use the collected data."""

    __tablename__ = "emergency_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text, default="")
    period_start: Mapped[dt.datetime] = mapped_column()
    period_end: Mapped[dt.datetime] = mapped_column()
    responsible_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    responder_org_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    opened_by_user_id: Mapped[int | None] = mapped_column(default=None)
    opened_at: Mapped[dt.datetime] = mapped_column(default=now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    treatment: Mapped[str | None] = mapped_column(String(20), default=None)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class EmergencyResource(Base):
    """R21: a catalog entry created for an event: its data is emergency data of that event only."""

    __tablename__ = "emergency_resource"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_event.id", ondelete="CASCADE"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80), unique=True)


class EmergencyTask(Base):
    """R21: a collection task — named organisations (one workflow case each) and, when `public`, persons
    and companies provide the data of one resource."""

    __tablename__ = "emergency_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_event.id", ondelete="CASCADE"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=False)
    # [{"org_id": ..., "case_id": ...}] — the respondent organisations and their collection cases.
    respondents: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class EmergencySubmission(Base):
    """R21: one batch of data a respondent (an organisation or a member of the public) provided."""

    __tablename__ = "emergency_submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("emergency_task.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column()
    org_id: Mapped[int | None] = mapped_column(default=None)
    user_id: Mapped[int | None] = mapped_column(default=None)
    accepted: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=now)
