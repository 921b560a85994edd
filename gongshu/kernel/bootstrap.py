"""Initialisation: migrate the database, load the shipped policy, make the platform's seal key."""

from __future__ import annotations

from gongshu.kernel import migrate
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import ensure_platform_key
from gongshu.kernel.db import session_scope
from gongshu.kernel.policy.service import load_shipped


def seed(url: str | None = None) -> None:
    """The rows every installation has: the shipped policy (R30) and the platform's seal key (R10)."""
    with session_scope(url) as session:
        load_shipped(session)
        ensure_platform_key(session)


def initialise(url: str | None = None) -> None:
    get_settings().ensure_data_dir()
    migrate.upgrade(url)
    seed(url)
