"""bridge/content: imported content packages (one per training item version), learners'
registrations on them, and their attempts.

Revision ID: content_0001
Revises: (none; depends on qms_0001 for training item versions and core_0001 for people)
Create Date: 2026-12-03 13:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "content_0001"
down_revision = None
branch_labels = ("content",)
depends_on = ("qms_0001", "core_0001")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "content_package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("standard", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("identifier", sa.String(length=500), nullable=False),
        sa.Column("course_iri", sa.String(length=1000), nullable=False),
        sa.Column("units", _json(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_content_package_item_version_id_qms_training_item_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_package")),
        sa.UniqueConstraint("item_version_id", name=op.f("uq_content_package_item_version_id")),
    )
    op.create_index("ix_content_package_sha256", "content_package", ["sha256"])
    op.create_table(
        "content_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("satisfied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["content_package.id"],
            name=op.f("fk_content_registration_package_id_content_package"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_content_registration_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_registration")),
        sa.UniqueConstraint("person_id", "package_id", name="uq_content_registration_person"),
        sa.UniqueConstraint("registration", name=op.f("uq_content_registration_registration")),
    )
    op.create_table(
        "content_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resumed", sa.Boolean(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("cmi", _json(), nullable=False),
        sa.Column("cmi5", _json(), nullable=False),
        sa.Column("auth_token_hash", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["content_registration.id"],
            name=op.f("fk_content_attempt_registration_id_content_registration"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_attempt")),
        sa.UniqueConstraint("auth_token_hash", name=op.f("uq_content_attempt_auth_token_hash")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_content_attempt_token_hash")),
    )
    op.create_index("ix_content_attempt_registration", "content_attempt", ["registration_id"])


def downgrade() -> None:
    op.drop_index("ix_content_attempt_registration", table_name="content_attempt")
    op.drop_table("content_attempt")
    op.drop_table("content_registration")
    op.drop_index("ix_content_package_sha256", table_name="content_package")
    op.drop_table("content_package")
