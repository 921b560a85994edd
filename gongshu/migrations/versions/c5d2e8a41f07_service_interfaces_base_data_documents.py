"""aggregation: service interfaces (R7), base data mapping (R11 R12), sealed record documents (R10)

Revision ID: c5d2e8a41f07
Revises: a89fc533f046
Create Date: 2026-11-29 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gongshu.kernel.db

revision: str = "c5d2e8a41f07"
down_revision: str | None = "a89fc533f046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = gongshu.kernel.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_interface",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("path_template", sa.String(length=500), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("timeout_seconds", sa.Double(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("registered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", _AT, nullable=False),
        sa.Column("confirmed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", _AT, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_service_interface_registered_by_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_service_interface_confirmed_by_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_interface")),
        sa.UniqueConstraint("resource_code", name=op.f("uq_service_interface_resource_code")),
    )
    op.create_table(
        "base_data_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base_code", sa.String(length=60), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_base_data_mapping_created_by_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_base_data_mapping")),
        sa.UniqueConstraint("base_code", "resource_code", name=op.f("uq_base_data_mapping_base_code")),
    )
    op.create_index(op.f("ix_base_data_mapping_base_code"), "base_data_mapping", ["base_code"])
    op.create_table(
        "record_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_code", sa.String(length=80), nullable=False),
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("item_name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.JSON(), nullable=True),
        sa.Column("sealing_org_id", sa.Integer(), nullable=False),
        sa.Column("added_by_user_id", sa.Integer(), nullable=True),
        sa.Column("added_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["sealing_org_id"],
            ["organisation.id"],
            name=op.f("fk_record_document_sealing_org_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_record_document_added_by_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_document")),
    )
    op.create_index(op.f("ix_record_document_resource_code"), "record_document", ["resource_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_record_document_resource_code"), table_name="record_document")
    op.drop_table("record_document")
    op.drop_index(op.f("ix_base_data_mapping_base_code"), table_name="base_data_mapping")
    op.drop_table("base_data_mapping")
    op.drop_table("service_interface")
