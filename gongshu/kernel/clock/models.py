"""Holiday notices (节假日安排通知) that the operator loads for years the calendar package does not know."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class HolidayNotice(Base):
    __tablename__ = "holiday_notice"

    year: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    # Dates off (statutory holidays and in-lieu days) and adjusted working weekend days (调休), ISO strings.
    holidays: Mapped[list[Any]] = mapped_column()
    workdays: Mapped[list[Any]] = mapped_column()
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=now)
    loaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
