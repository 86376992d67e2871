"""xapi: LRS credentials

Revision ID: xapi_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "xapi_0001"
down_revision = None
branch_labels = ("xapi",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "xapi_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("authority", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xapi_credential")),
        sa.UniqueConstraint("key", name=op.f("uq_xapi_credential_key")),
        sa.UniqueConstraint("name", name=op.f("uq_xapi_credential_name")),
    )


def downgrade() -> None:
    op.drop_table("xapi_credential")
