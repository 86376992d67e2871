"""xapi: statements, their filter rows, canonical activities, attachments

Revision ID: xapi_0002
Revises: xapi_0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "xapi_0002"
down_revision = "xapi_0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "xapi_statement",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("stored", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("voids", sa.String(length=36), nullable=True),
        sa.Column("credential_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_sha2s", JSON, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_xapi_statement")),
        sa.UniqueConstraint("statement_id", name=op.f("uq_xapi_statement_statement_id")),
    )
    op.create_index("ix_xapi_statement_stored", "xapi_statement", ["stored"])
    op.create_index("ix_xapi_statement_voids", "xapi_statement", ["voids"])
    op.create_index("ix_xapi_statement_credential", "xapi_statement", ["credential_id", "seq"])
    op.create_table(
        "xapi_statement_index",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("relation", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "seq", name=op.f("pk_xapi_statement_index")),
    )
    op.create_index("ix_xapi_statement_index_seq", "xapi_statement_index", ["seq"])
    op.create_table(
        "xapi_activity",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("activity_id", sa.Text(), nullable=False),
        sa.Column("definition", JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_xapi_activity")),
    )
    op.create_table(
        "xapi_attachment",
        sa.Column("sha2", sa.String(length=128), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha2", name=op.f("pk_xapi_attachment")),
    )


def downgrade() -> None:
    op.drop_table("xapi_attachment")
    op.drop_table("xapi_activity")
    op.drop_index("ix_xapi_statement_index_seq", table_name="xapi_statement_index")
    op.drop_table("xapi_statement_index")
    op.drop_index("ix_xapi_statement_credential", table_name="xapi_statement")
    op.drop_index("ix_xapi_statement_voids", table_name="xapi_statement")
    op.drop_index("ix_xapi_statement_stored", table_name="xapi_statement")
    op.drop_table("xapi_statement")
