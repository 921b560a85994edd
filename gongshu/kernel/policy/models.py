"""R30: policy versions (every number and category of the regulation) with their effective periods."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class PolicyVersion(Base):
    __tablename__ = "policy_version"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    effective_from: Mapped[dt.date] = mapped_column()
    effective_to: Mapped[dt.date | None] = mapped_column(default=None)
    content: Mapped[dict[str, Any]] = mapped_column()
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=now)
    loaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
