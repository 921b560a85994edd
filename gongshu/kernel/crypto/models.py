"""R10: SM2 public keys registered for sealing organisations (the platform's own key lives on disk)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now


class SealKey(Base):
    __tablename__ = "seal_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SM3 of the public key DER
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    is_platform: Mapped[bool] = mapped_column(default=False)
    registered_at: Mapped[dt.datetime] = mapped_column(default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
