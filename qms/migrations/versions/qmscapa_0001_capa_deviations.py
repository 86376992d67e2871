"""qms CAPA and deviations: CAPA records, actions and their training links; deviations, the
people and documents involved, and signed training adequacy assessments.

Revision ID: qmscapa_0001
Revises: (none; depends on qms_0001)
Create Date: 2026-11-29 10:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "qmscapa_0001"
down_revision = None
branch_labels = ("qms_capa",)
depends_on = "qms_0001"


def upgrade() -> None:
    op.create_table(
        "qms_deviation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("investigation_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closure_signature_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["user_account.id"], name=op.f("fk_qms_deviation_author_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["closure_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_deviation_closure_signature_id_electronic_signature"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_deviation")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_deviation_number")),
    )
    op.create_index("ix_qms_deviation_status", "qms_deviation", ["status", "occurred_at"], unique=False)
    op.create_table(
        "qms_capa",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_reference", sa.String(length=200), nullable=True),
        sa.Column("deviation_id", sa.Integer(), nullable=True),
        sa.Column("owner_person_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("effectiveness_summary", sa.Text(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_signature_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closure_signature_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_capa_approval_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["user_account.id"], name=op.f("fk_qms_capa_author_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["closure_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_capa_closure_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["deviation_id"], ["qms_deviation.id"], name=op.f("fk_qms_capa_deviation_id_qms_deviation")
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["person.id"], name=op.f("fk_qms_capa_owner_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capa")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_capa_number")),
    )
    op.create_index("ix_qms_capa_deviation", "qms_capa", ["deviation_id"], unique=False)
    op.create_index("ix_qms_capa_status", "qms_capa", ["status", "due_at"], unique=False)
    op.create_table(
        "qms_deviation_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deviation_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deviation_id"],
            ["qms_deviation.id"],
            name=op.f("fk_qms_deviation_document_deviation_id_qms_deviation"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["qms_document.id"],
            name=op.f("fk_qms_deviation_document_document_id_qms_document"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_deviation_document")),
        sa.UniqueConstraint("deviation_id", "document_id", name="uq_qms_deviation_document_pair"),
    )
    op.create_table(
        "qms_deviation_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deviation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deviation_id"],
            ["qms_deviation.id"],
            name=op.f("fk_qms_deviation_person_deviation_id_qms_deviation"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_deviation_person_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_deviation_person")),
        sa.UniqueConstraint("deviation_id", "person_id", name="uq_qms_deviation_person_pair"),
    )
    op.create_table(
        "qms_training_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deviation_id", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("trained", sa.Integer(), nullable=False),
        sa.Column("conclusion", sa.String(length=16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("assessed_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessed_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_qms_training_assessment_assessed_by_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["deviation_id"],
            ["qms_deviation.id"],
            name=op.f("fk_qms_training_assessment_deviation_id_qms_deviation"),
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_training_assessment_signature_id_electronic_signature"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_training_assessment")),
    )
    op.create_index(
        "ix_qms_training_assessment_deviation",
        "qms_training_assessment",
        ["deviation_id", "assessed_at"],
        unique=False,
    )
    op.create_table(
        "qms_capa_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("capa_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "training_item_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("person_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "job_function_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["capa_id"], ["qms_capa.id"], name=op.f("fk_qms_capa_action_capa_id_qms_capa")
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["person.id"], name=op.f("fk_qms_capa_action_owner_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capa_action")),
        sa.UniqueConstraint("capa_id", "seq", name="uq_qms_capa_action_seq"),
    )
    op.create_table(
        "qms_capa_action_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("created_by_action", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["qms_capa_action.id"],
            name=op.f("fk_qms_capa_action_assignment_action_id_qms_capa_action"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["qms_assignment.id"],
            name=op.f("fk_qms_capa_action_assignment_assignment_id_qms_assignment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_capa_action_assignment")),
        sa.UniqueConstraint("action_id", "assignment_id", name="uq_qms_capa_action_assignment_pair"),
    )
    op.create_index(
        "ix_qms_capa_action_assignment_assignment",
        "qms_capa_action_assignment",
        ["assignment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_qms_capa_action_assignment_assignment", table_name="qms_capa_action_assignment")
    op.drop_table("qms_capa_action_assignment")
    op.drop_table("qms_capa_action")
    op.drop_index("ix_qms_training_assessment_deviation", table_name="qms_training_assessment")
    op.drop_table("qms_training_assessment")
    op.drop_table("qms_deviation_person")
    op.drop_table("qms_deviation_document")
    op.drop_index("ix_qms_capa_status", table_name="qms_capa")
    op.drop_index("ix_qms_capa_deviation", table_name="qms_capa")
    op.drop_table("qms_capa")
    op.drop_index("ix_qms_deviation_status", table_name="qms_deviation")
    op.drop_table("qms_deviation")
