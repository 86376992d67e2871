"""qms corrections (issue 14 #5): the presentations of controlled files to the people who sign
"read and understood".

Revision ID: qmsfix_0001
Revises: (none; depends on qms_0001)
Create Date: 2026-12-03 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "qmsfix_0001"
down_revision = None
branch_labels = ("qmsfix",)
depends_on = "qms_0001"


def upgrade() -> None:
    op.create_table(
        "qms_document_presentation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("document_version_id", sa.Integer(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("presented_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["qms_document_version.id"],
            name=op.f("fk_qms_document_presentation_document_version_id_qms_document_version"),
        ),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_document_presentation_item_version_id_qms_training_item_version"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_document_presentation_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_document_presentation")),
    )
    op.create_index(
        "ix_qms_document_presentation_person",
        "qms_document_presentation",
        ["person_id", "item_version_id", "presented_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_qms_document_presentation_person", table_name="qms_document_presentation")
    op.drop_table("qms_document_presentation")
