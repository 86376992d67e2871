"""notifications: every notice recorded with its idempotency key, the once-per-stage marks, people's
preferences and webhook subscriptions; supervisors and departments' QA contacts; instructor-led
sessions and their invitees.

Revision ID: notify_0001
Revises: (none; depends on qms_0001)
Create Date: 2026-12-03 13:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "notify_0001"
down_revision = None
branch_labels = ("notify",)
depends_on = "qms_0001"


def upgrade() -> None:
    op.create_index("ix_qms_assignment_assigned_at", "qms_assignment", ["assigned_at"], unique=False)
    op.create_table(
        "notify_notice_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_notice_mark")),
        sa.UniqueConstraint("subject_type", "stage", "subject_id", name="uq_notify_notice_mark"),
    )
    op.create_table(
        "notify_webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_webhook_subscription")),
    )
    op.create_table(
        "notify_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=1000), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_notify_notification_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_notification")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notify_notification_idempotency_key")),
    )
    op.create_index(
        "ix_notify_notification_person", "notify_notification", ["person_id", "created_at"], unique=False
    )
    op.create_table(
        "notify_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_notify_preference_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_preference")),
        sa.UniqueConstraint("person_id", "kind", name="uq_notify_preference"),
    )
    op.create_table(
        "qms_department_qa_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["qms_department.id"],
            name=op.f("fk_qms_department_qa_contact_department_id_qms_department"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_department_qa_contact_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_department_qa_contact")),
    )
    op.create_index(
        "ix_qms_department_qa_contact_dept",
        "qms_department_qa_contact",
        ["department_id", "valid_to"],
        unique=False,
    )
    op.create_table(
        "qms_person_supervisor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("supervisor_person_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_person_supervisor_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_person_id"],
            ["person.id"],
            name=op.f("fk_qms_person_supervisor_supervisor_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_person_supervisor")),
    )
    op.create_index(
        "ix_qms_person_supervisor_person", "qms_person_supervisor", ["person_id", "valid_to"], unique=False
    )
    op.create_table(
        "qms_training_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=200), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("instructor_person_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instructor_person_id"],
            ["person.id"],
            name=op.f("fk_qms_training_session_instructor_person_id_person"),
        ),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_training_session_training_item_id_qms_training_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_training_session")),
        sa.UniqueConstraint("uid", name=op.f("uq_qms_training_session_uid")),
    )
    op.create_index(
        "ix_qms_training_session_item",
        "qms_training_session",
        ["training_item_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "qms_training_session_invitee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_qms_training_session_invitee_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["qms_training_session.id"],
            name=op.f("fk_qms_training_session_invitee_session_id_qms_training_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_training_session_invitee")),
        sa.UniqueConstraint("session_id", "person_id", name="uq_qms_training_session_invitee"),
    )


def downgrade() -> None:
    op.drop_index("ix_qms_assignment_assigned_at", table_name="qms_assignment")
    op.drop_table("qms_training_session_invitee")
    op.drop_index("ix_qms_training_session_item", table_name="qms_training_session")
    op.drop_table("qms_training_session")
    op.drop_index("ix_qms_person_supervisor_person", table_name="qms_person_supervisor")
    op.drop_table("qms_person_supervisor")
    op.drop_index("ix_qms_department_qa_contact_dept", table_name="qms_department_qa_contact")
    op.drop_table("qms_department_qa_contact")
    op.drop_table("notify_preference")
    op.drop_index("ix_notify_notification_person", table_name="notify_notification")
    op.drop_table("notify_notification")
    op.drop_table("notify_webhook_subscription")
    op.drop_table("notify_notice_mark")
