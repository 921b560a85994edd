"""R8: government IT projects registered with the catalog entries they will produce and their data needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class ITProject(Base):
    """R8: a government IT project. `outputs` lists the catalog entries it will produce, each either an
    existing entry ({"resource_code": ...}) or a planned one ({"planned_name": ...}); `data_needs` lists the
    resource codes of the entries it will use."""

    __tablename__ = "it_project"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    outputs: Mapped[list[Any]] = mapped_column(default=list)
    data_needs: Mapped[list[Any]] = mapped_column(default=list)
    # registered, acceptance_requested, accepted, acceptance_refused
    status: Mapped[str] = mapped_column(String(30), default="registered", index=True)
    acceptance_case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"), default=None)
    registered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now)
