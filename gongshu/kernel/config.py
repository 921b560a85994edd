"""Settings read from the environment (GONGSHU_*), with the embedded default on SQLite."""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Platform settings. Regulation numbers never live here: they live in the policy file (R30)."""

    model_config = SettingsConfigDict(env_prefix="GONGSHU_", extra="ignore")

    data_dir: Path = Path("./gongshu-data")
    database_url: str = ""
    secret_key: str = ""
    # Security settings of the platform itself (not statutory numbers).
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    session_hours: int = 12
    api_token_default_days: int = 90
    api_token_cache_seconds: float = 5.0
    """R5: how long a process keeps the actor it resolved from an API token (0: resolve on every request).
    Revoking a token or granting a role forgets the kept actors of the process that does it at once; other
    processes (more than one web worker) see a revocation or a role change within this many seconds."""
    audit_batch_max: int = 64
    """R26: the most audit entries of audited reads (the row API) that the audit writer appends in one
    transaction; each request is still answered only once its own entry is committed. 1: one transaction
    per entry."""
    row_api_threads: int = 2
    """R19: the threads of a web process that decide and query row API requests at once (more only contend
    for the interpreter; the wait for the audit commit holds no thread)."""
    timezone: str = "Asia/Shanghai"
    # Background work: "embedded" runs the scheduler inside `serve`; "external" leaves it to `gongshu worker`.
    background: str = "embedded"
    secure_cookies: bool = False
    # Limits of the push API for department systems (R7).
    push_max_records: int = 100_000
    push_max_bytes: int = 64 * 1024 * 1024
    # Files at least this large are read and checked in a worker process while the load writes (R7 R13);
    # 0: every file; a negative value: never.
    ingest_worker_min_bytes: int = 16 * 1024 * 1024
    # Data streams (R19 method 4): "sse" (embedded) or "nats" (JetStream); the SSE feed poll interval.
    stream_backend: str = "sse"
    nats_url: str = "nats://127.0.0.1:4222"
    stream_poll_seconds: float = 0.2
    stream_heartbeat_seconds: float = 5.0
    external_sqlite_dirs: Annotated[list[Path] | None, NoDecode] = None
    """R7 R19 R26: the folders in which SQLite files outside the platform may be read (a department's
    database, pulled from) or written (a consumer's database, delivered into); a SQLite URL whose real path
    lies in none of them is refused. Unset: one folder, `<data folder>-external` beside the data folder
    (`resolved_external_sqlite_dirs`). GONGSHU_EXTERNAL_SQLITE_DIRS lists folders separated by `:` or as a
    JSON array; set empty, no SQLite file is accepted."""

    @field_validator("external_sqlite_dirs", mode="before")
    @classmethod
    def _split_folders(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    def resolved_external_sqlite_dirs(self) -> list[Path]:
        """R7 R19: the folders of external SQLite files, as configured (absolute), or by default the
        sibling of the data folder named after it with "-external" appended (where the demo keeps its
        stand-in department databases, `gongshu.demo.external.external_dir`)."""
        if self.external_sqlite_dirs is None:
            data = Path(os.path.realpath(self.data_dir))
            return [data.parent / f"{data.name}-external"]
        return [Path(os.path.abspath(folder)) for folder in self.external_sqlite_dirs]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gongshu.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("keys", "attachments", "exports", "uploads"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The cookie/CSRF signing key: from the environment, else generated once into the data folder."""
        if self.secret_key:
            return self.secret_key
        cached = _secret_keys.get(self.data_dir)
        if cached is not None:
            return cached
        path = self.ensure_data_dir() / "keys" / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        _secret_keys[self.data_dir] = path.read_text().strip()
        return _secret_keys[self.data_dir]


_secret_keys: dict[Path, str] = {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
    _secret_keys.clear()
