"""One error type with a stable code, a Chinese and an English message, and an HTTP status."""

from __future__ import annotations

from typing import Any


class GongshuError(Exception):
    """A refused command. Raised before anything is written, or inside a transaction that rolls back."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        field: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field
        if status_code is not None:
            self.status_code = status_code
        self.details = details or {}

    def message(self, lang: str = "zh") -> str:
        return self.message_zh if lang.startswith("zh") else self.message_en

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message(lang),
            "message_en": self.message_en,
        }
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class NotFound(GongshuError):
    status_code = 404


class Forbidden(GongshuError):
    status_code = 403


class Unauthenticated(GongshuError):
    status_code = 401


class Conflict(GongshuError):
    status_code = 409


class ValidationFailed(GongshuError):
    status_code = 422
