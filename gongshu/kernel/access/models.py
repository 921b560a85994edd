"""R17, R26: grants — consumer organisation × resource × items × scenario × period × delivery method."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class Grant(Base):
    __tablename__ = "access_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    resource_type: Mapped[str] = mapped_column(String(40), default="catalog_entry")
    resource_id: Mapped[str] = mapped_column(String(80), index=True)
    items: Mapped[list[Any]] = mapped_column()
    scenario: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    delivery_method: Mapped[str] = mapped_column(String(20))  # api, db_table, file, stream
    valid_from: Mapped[dt.datetime] = mapped_column()
    valid_to: Mapped[dt.datetime] = mapped_column()
    # Rows the grant covers, as {item: [allowed values]} equality filters; empty = all rows.
    row_filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the grant came from: a sharing application case, an open application, an emergency event.
    origin: Mapped[str] = mapped_column(String(40), default="sharing_application")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    revoke_reason: Mapped[str | None] = mapped_column(Text, default=None)
