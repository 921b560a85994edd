"""identity: TOTP secrets encrypted at rest (R5 identity, R26 security)

`user_account.totp_secret` held the clear base32 secret of each user's authenticator. It now holds
`sm4:1:…` (SM4 + HMAC-SM3 under the platform's secret key, `gongshu.kernel.crypto.sm4`, as the passwords of
pulled databases are). The column is widened on PostgreSQL (an encrypted 32-character secret takes 134
characters); SQLite does not enforce a VARCHAR's length, and rebuilding `user_account` there would, under
its foreign keys, cascade-delete the rows that depend on it — so SQLite's column is left as it is.

The existing clear secrets are encrypted here when the platform's secret key can be reached: from
GONGSHU_SECRET_KEY, or the key file already in the data folder (`<data_dir>/keys/secret_key`). A migration
never makes a new key (secrets encrypted under a key the web process does not share would lock their
users out): without the key the clear secrets are left, and `identity.totp.verify_user_code` encrypts each
at its next successful verification.

Revision ID: 8a5c7fe92e5c
Revises: 0b5e1d9c7a62
Create Date: 2026-12-01 10:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.sm4 import PREFIX, decrypt_secret, encrypt_secret

revision: str = "8a5c7fe92e5c"
down_revision: str | Sequence[str] | None = "0b5e1d9c7a62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

users = sa.table("user_account", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))


def _platform_key() -> str | None:
    """The platform's secret key, only if the installation already has one (never a new one)."""
    settings = get_settings()
    if settings.secret_key or (settings.data_dir / "keys" / "secret_key").is_file():
        return settings.resolved_secret_key()
    return None


def _stored() -> list[tuple[int, str]]:
    rows = op.get_bind().execute(sa.select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None)))
    return [(row.id, row.totp_secret) for row in rows if row.totp_secret]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "user_account",
            "totp_secret",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
    clear = [(user_id, value) for user_id, value in _stored() if not value.startswith(PREFIX)]
    if not clear:
        return
    key = _platform_key()
    if key is None:
        log.warning(
            "%d TOTP secret(s) left in clear: the platform's secret key is not reachable (GONGSHU_SECRET_KEY "
            "or <data_dir>/keys/secret_key); each is encrypted at its next successful login",
            len(clear),
        )
        return
    for user_id, value in clear:
        op.get_bind().execute(
            users.update().where(users.c.id == user_id).values(totp_secret=encrypt_secret(value, secret=key))
        )


def downgrade() -> None:
    encrypted = [(user_id, value) for user_id, value in _stored() if value.startswith(PREFIX)]
    if encrypted:
        key = get_settings().resolved_secret_key()
        for user_id, value in encrypted:
            op.get_bind().execute(
                users.update().where(users.c.id == user_id).values(totp_secret=decrypt_secret(value, secret=key))
            )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "user_account",
            "totp_secret",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
