"""Background jobs: schedules and one row per run slot, so that several workers never run a slot twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class JobRun(Base):
    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job_name", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_name: Mapped[str] = mapped_column(String(80), index=True)
    slot: Mapped[dt.datetime] = mapped_column()  # the scheduled instant this run serves
    worker: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[dt.datetime] = mapped_column(default=now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, ok, error
    error: Mapped[str | None] = mapped_column(Text, default=None)
