"""xapi documents: State, Activity Profile and Agent Profile documents

Revision ID: xapidoc_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "xapidoc_0001"
down_revision = None
branch_labels = ("xapi_documents",)
depends_on = "xapi_0001"


def upgrade() -> None:
    op.create_table(
        "xapi_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_key", sa.String(length=64), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("activity_id", sa.Text(), nullable=True),
        sa.Column("agent_key", sa.Text(), nullable=True),
        sa.Column("registration", sa.String(length=36), nullable=True),
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("etag", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xapi_document")),
        sa.UniqueConstraint("doc_key", name=op.f("uq_xapi_document_doc_key")),
    )
    op.create_index("ix_xapi_document_scope_updated", "xapi_document", ["scope_key", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_xapi_document_scope_updated", table_name="xapi_document")
    op.drop_table("xapi_document")
