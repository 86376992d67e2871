"""qms schema

Revision ID: qms_0001
Revises: (none; depends on core_0001)
Create Date: 2026-11-29 09:38:38.134657
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "qms_0001"
down_revision = None
branch_labels = ("qms",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "qms_controlled_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_controlled_file")),
        sa.UniqueConstraint("sha256", name=op.f("uq_qms_controlled_file_sha256")),
    )
    op.create_table(
        "qms_department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_department")),
        sa.UniqueConstraint("code", name=op.f("uq_qms_department_code")),
    )
    op.create_table(
        "qms_equipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_equipment")),
        sa.UniqueConstraint("code", name=op.f("uq_qms_equipment_code")),
    )
    op.create_table(
        "qms_job_function",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_job_function")),
        sa.UniqueConstraint("code", name=op.f("uq_qms_job_function_code")),
    )
    op.create_table(
        "qms_employment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("hired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_employment_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_employment")),
    )
    with op.batch_alter_table("qms_employment", schema=None) as batch_op:
        batch_op.create_index("ix_qms_employment_person", ["person_id"], unique=False)

    op.create_table(
        "qms_leave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_qms_leave_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_leave")),
    )
    with op.batch_alter_table("qms_leave", schema=None) as batch_op:
        batch_op.create_index("ix_qms_leave_person", ["person_id"], unique=False)

    op.create_table(
        "qms_person_department",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["qms_department.id"],
            name=op.f("fk_qms_person_department_department_id_qms_department"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_person_department_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_person_department")),
    )
    with op.batch_alter_table("qms_person_department", schema=None) as batch_op:
        batch_op.create_index("ix_qms_person_department_dept", ["department_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_person_department_person", ["person_id", "valid_to"], unique=False)

    op.create_table(
        "qms_person_equipment",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["qms_equipment.id"],
            name=op.f("fk_qms_person_equipment_equipment_id_qms_equipment"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_person_equipment_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_person_equipment")),
    )
    with op.batch_alter_table("qms_person_equipment", schema=None) as batch_op:
        batch_op.create_index("ix_qms_person_equipment_eq", ["equipment_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_person_equipment_person", ["person_id", "valid_to"], unique=False)

    op.create_table(
        "qms_person_job_function",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("job_function_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_function_id"],
            ["qms_job_function.id"],
            name=op.f("fk_qms_person_job_function_job_function_id_qms_job_function"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_person_job_function_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_person_job_function")),
    )
    with op.batch_alter_table("qms_person_job_function", schema=None) as batch_op:
        batch_op.create_index("ix_qms_person_job_function_jf", ["job_function_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_person_job_function_person", ["person_id", "valid_to"], unique=False)

    op.create_table(
        "qms_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["user_account.id"],
            name=op.f("fk_qms_document_created_by_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_document")),
        sa.UniqueConstraint("code", name=op.f("uq_qms_document_code")),
    )
    op.create_table(
        "qms_change_control",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("impact", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_trained_pct", sa.Float(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_signature_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_change_control_approval_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user_account.id"],
            name=op.f("fk_qms_change_control_author_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_control")),
        sa.UniqueConstraint("number", name=op.f("uq_qms_change_control_number")),
    )
    op.create_table(
        "qms_training_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("requires_signature", sa.Boolean(), nullable=False),
        sa.Column("pass_score", sa.Float(), nullable=True),
        sa.Column("requires_trainer", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind in ('read_and_understand', 'course', 'instructor_led', 'ojt')",
            name=op.f("ck_qms_training_item_item_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["qms_document.id"], name=op.f("fk_qms_training_item_document_id_qms_document")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_training_item")),
        sa.UniqueConstraint("code", name=op.f("uq_qms_training_item_code")),
        sa.UniqueConstraint("document_id", name=op.f("uq_qms_training_item_document_id")),
    )
    op.create_table(
        "qms_requirement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("job_function_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("equipment_id", sa.Integer(), nullable=True),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("retrain_interval_days", sa.Integer(), nullable=True),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(scope = 'job_function' AND job_function_id IS NOT NULL AND department_id IS NULL AND equipment_id IS NULL) OR (scope = 'department' AND department_id IS NOT NULL AND job_function_id IS NULL AND equipment_id IS NULL) OR (scope = 'equipment' AND equipment_id IS NOT NULL AND job_function_id IS NULL AND department_id IS NULL)",
            name=op.f("ck_qms_requirement_one_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["qms_department.id"],
            name=op.f("fk_qms_requirement_department_id_qms_department"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["qms_equipment.id"], name=op.f("fk_qms_requirement_equipment_id_qms_equipment")
        ),
        sa.ForeignKeyConstraint(
            ["job_function_id"],
            ["qms_job_function.id"],
            name=op.f("fk_qms_requirement_job_function_id_qms_job_function"),
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_requirement_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_requirement")),
    )
    with op.batch_alter_table("qms_requirement", schema=None) as batch_op:
        batch_op.create_index("ix_qms_requirement_dept", ["department_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_requirement_eq", ["equipment_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_requirement_item", ["training_item_id", "valid_to"], unique=False)
        batch_op.create_index("ix_qms_requirement_jf", ["job_function_id", "valid_to"], unique=False)

    op.create_table(
        "qms_training_item_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("retrain", sa.Boolean(), nullable=False),
        sa.Column("baseline_seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("min_trained_pct", sa.Float(), nullable=True),
        sa.Column("activity_iris", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("lms_url", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_signature_id", sa.Integer(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_training_item_version_approval_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user_account.id"],
            name=op.f("fk_qms_training_item_version_author_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_training_item_version_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_training_item_version")),
        sa.UniqueConstraint("training_item_id", "seq", name="uq_qms_training_item_version_seq"),
    )
    with op.batch_alter_table("qms_training_item_version", schema=None) as batch_op:
        batch_op.create_index("ix_qms_training_item_version_due", ["status", "effective_at"], unique=False)

    op.create_table(
        "qms_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_id", sa.Integer(), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_assignment_item_version_id_qms_training_item_version"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_assignment_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_assignment_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_assignment")),
    )
    with op.batch_alter_table("qms_assignment", schema=None) as batch_op:
        batch_op.create_index("ix_qms_assignment_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_qms_assignment_item", ["training_item_id", "status"], unique=False)
        batch_op.create_index("ix_qms_assignment_person", ["person_id", "status"], unique=False)
        batch_op.create_index("ix_qms_assignment_source", ["source_type", "source_id"], unique=False)
        batch_op.create_index("ix_qms_assignment_version", ["item_version_id", "status"], unique=False)

    op.create_table(
        "qms_compliance_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("job_function_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trained_version_id", sa.Integer(), nullable=True),
        sa.Column("last_completion_id", sa.Integer(), nullable=True),
        sa.Column("last_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_compliance_state_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["qms_requirement.id"],
            name=op.f("fk_qms_compliance_state_requirement_id_qms_requirement"),
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_compliance_state_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_compliance_state")),
        sa.UniqueConstraint("person_id", "requirement_id", name="uq_qms_compliance_state_pair"),
    )
    with op.batch_alter_table("qms_compliance_state", schema=None) as batch_op:
        batch_op.create_index("ix_qms_compliance_state_item", ["training_item_id", "person_id"], unique=False)
        batch_op.create_index(
            "ix_qms_compliance_state_requirement", ["requirement_id", "last_completed_at"], unique=False
        )
        batch_op.create_index(
            "ix_qms_compliance_state_matrix",
            ["department_id", "job_function_id", "status", "due_at", "expires_at"],
            unique=False,
        )

    op.create_table(
        "qms_document_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.String(length=8), nullable=False),
        sa.Column("retrain", sa.Boolean(), nullable=False),
        sa.Column("impact_rationale", sa.Text(), nullable=True),
        sa.Column("change_summary", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("min_trained_pct", sa.Float(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_signature_id", sa.Integer(), nullable=True),
        sa.Column("item_version_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "revision in ('major', 'minor')", name=op.f("ck_qms_document_version_revision_kind")
        ),
        sa.ForeignKeyConstraint(
            ["approval_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_document_version_approval_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user_account.id"],
            name=op.f("fk_qms_document_version_author_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["qms_document.id"],
            name=op.f("fk_qms_document_version_document_id_qms_document"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["qms_controlled_file.id"],
            name=op.f("fk_qms_document_version_file_id_qms_controlled_file"),
        ),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_document_version_item_version_id_qms_training_item_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_document_version")),
        sa.UniqueConstraint("document_id", "label", name="uq_qms_document_version_label"),
        sa.UniqueConstraint("document_id", "seq", name="uq_qms_document_version_seq"),
    )
    op.create_table(
        "qms_change_control_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_control_id", sa.Integer(), nullable=False),
        sa.Column("document_version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_control_id"],
            ["qms_change_control.id"],
            name=op.f("fk_qms_change_control_document_change_control_id_qms_change_control"),
        ),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["qms_document_version.id"],
            name=op.f("fk_qms_change_control_document_document_version_id_qms_document_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_change_control_document")),
        sa.UniqueConstraint(
            "document_version_id", name=op.f("uq_qms_change_control_document_document_version_id")
        ),
    )
    op.create_table(
        "qms_completion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score_scaled", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("trainer_person_id", sa.Integer(), nullable=True),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("trainer_signature_id", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["qms_assignment.id"],
            name=op.f("fk_qms_completion_assignment_id_qms_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_completion_item_version_id_qms_training_item_version"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_completion_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_completion_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["trainer_person_id"], ["person.id"], name=op.f("fk_qms_completion_trainer_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["trainer_signature_id"],
            ["electronic_signature.id"],
            name=op.f("fk_qms_completion_trainer_signature_id_electronic_signature"),
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_completion_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_completion")),
    )
    with op.batch_alter_table("qms_completion", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qms_completion_person_item", ["person_id", "training_item_id", "completed_at"], unique=False
        )
        batch_op.create_index("ix_qms_completion_version", ["item_version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qms_completion", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_completion_version")
        batch_op.drop_index("ix_qms_completion_person_item")

    op.drop_table("qms_completion")
    op.drop_table("qms_change_control_document")
    op.drop_table("qms_document_version")
    with op.batch_alter_table("qms_compliance_state", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_compliance_state_matrix")
        batch_op.drop_index("ix_qms_compliance_state_requirement")
        batch_op.drop_index("ix_qms_compliance_state_item")

    op.drop_table("qms_compliance_state")
    with op.batch_alter_table("qms_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_assignment_version")
        batch_op.drop_index("ix_qms_assignment_source")
        batch_op.drop_index("ix_qms_assignment_person")
        batch_op.drop_index("ix_qms_assignment_item")
        batch_op.drop_index("ix_qms_assignment_due")

    op.drop_table("qms_assignment")
    with op.batch_alter_table("qms_training_item_version", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_training_item_version_due")

    op.drop_table("qms_training_item_version")
    with op.batch_alter_table("qms_requirement", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_requirement_jf")
        batch_op.drop_index("ix_qms_requirement_item")
        batch_op.drop_index("ix_qms_requirement_eq")
        batch_op.drop_index("ix_qms_requirement_dept")

    op.drop_table("qms_requirement")
    op.drop_table("qms_training_item")
    op.drop_table("qms_change_control")
    op.drop_table("qms_document")
    with op.batch_alter_table("qms_person_job_function", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_person_job_function_person")
        batch_op.drop_index("ix_qms_person_job_function_jf")

    op.drop_table("qms_person_job_function")
    with op.batch_alter_table("qms_person_equipment", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_person_equipment_person")
        batch_op.drop_index("ix_qms_person_equipment_eq")

    op.drop_table("qms_person_equipment")
    with op.batch_alter_table("qms_person_department", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_person_department_person")
        batch_op.drop_index("ix_qms_person_department_dept")

    op.drop_table("qms_person_department")
    with op.batch_alter_table("qms_leave", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_leave_person")

    op.drop_table("qms_leave")
    with op.batch_alter_table("qms_employment", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_employment_person")

    op.drop_table("qms_employment")
    op.drop_table("qms_job_function")
    op.drop_table("qms_equipment")
    op.drop_table("qms_department")
    op.drop_table("qms_controlled_file")
