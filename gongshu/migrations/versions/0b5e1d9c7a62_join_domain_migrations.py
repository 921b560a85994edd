"""join the domain migrations written side by side (pulls, interfaces, emergencies, deliveries, quality
checks, catalog search) into one head

Revision ID: 0b5e1d9c7a62
Revises: c4d7e2a91b30, c5d2e8a41f07, c9e4a7d2f15b, d7a3f19c2b60, f2b6e9d3a417, f3b8d61c0a27
Create Date: 2026-11-29 11:40:00
"""

from collections.abc import Sequence

revision: str = "0b5e1d9c7a62"
down_revision: str | Sequence[str] | None = (
    "c4d7e2a91b30",
    "c5d2e8a41f07",
    "c9e4a7d2f15b",
    "d7a3f19c2b60",
    "f2b6e9d3a417",
    "f3b8d61c0a27",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
