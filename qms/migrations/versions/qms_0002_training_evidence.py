"""qms training evidence: evidence rows made from stored statements (append-only), the inbox of
statements waiting for their actor or activity to be mapped, and the index of the activity IRIs
training item versions list (filled here from the versions already stored).

Revision ID: qms_0002
Revises: qms_0001
Create Date: 2026-12-03 09:35:32
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "qms_0002"
down_revision = "qms_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qms_evidence_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_mapped", sa.Boolean(), nullable=False),
        sa.Column("activity_mapped", sa.Boolean(), nullable=False),
        sa.Column("actor_key", sa.String(length=1100), nullable=False),
        sa.Column("actor_name", sa.String(length=500), nullable=True),
        sa.Column("activity_key", sa.String(length=64), nullable=False),
        sa.Column("activity_iri", sa.Text(), nullable=False),
        sa.Column("verb", sa.String(length=500), nullable=False),
        sa.Column(
            "observation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_evidence_inbox")),
        sa.UniqueConstraint("statement_id", name=op.f("uq_qms_evidence_inbox_statement_id")),
    )
    with op.batch_alter_table("qms_evidence_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_qms_evidence_inbox_activity", ["activity_key"], unique=False)
        batch_op.create_index("ix_qms_evidence_inbox_actor", ["actor_key"], unique=False)

    op.create_table(
        "qms_activity_iri",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iri_key", sa.String(length=64), nullable=False),
        sa.Column("iri", sa.Text(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_activity_iri_item_version_id_qms_training_item_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_activity_iri")),
        sa.UniqueConstraint("iri_key", "item_version_id", name="uq_qms_activity_iri_version"),
    )
    with op.batch_alter_table("qms_activity_iri", schema=None) as batch_op:
        batch_op.create_index("ix_qms_activity_iri_version", ["item_version_id"], unique=False)

    op.create_table(
        "qms_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("training_item_id", sa.Integer(), nullable=False),
        sa.Column("item_version_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("completion_id", sa.Integer(), nullable=True),
        sa.Column("withdraws_id", sa.Integer(), nullable=True),
        sa.Column("verb", sa.String(length=500), nullable=False),
        sa.Column("activity_iri", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("completion", sa.Boolean(), nullable=True),
        sa.Column("score_raw", sa.Float(), nullable=True),
        sa.Column("score_min", sa.Float(), nullable=True),
        sa.Column("score_max", sa.Float(), nullable=True),
        sa.Column("score_scaled", sa.Float(), nullable=True),
        sa.Column("duration", sa.String(length=64), nullable=True),
        sa.Column("registration", sa.String(length=36), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["qms_assignment.id"],
            name=op.f("fk_qms_evidence_assignment_id_qms_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["completion_id"],
            ["qms_completion.id"],
            name=op.f("fk_qms_evidence_completion_id_qms_completion"),
        ),
        sa.ForeignKeyConstraint(
            ["item_version_id"],
            ["qms_training_item_version.id"],
            name=op.f("fk_qms_evidence_item_version_id_qms_training_item_version"),
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_qms_evidence_person_id_person")),
        sa.ForeignKeyConstraint(
            ["training_item_id"],
            ["qms_training_item.id"],
            name=op.f("fk_qms_evidence_training_item_id_qms_training_item"),
        ),
        sa.ForeignKeyConstraint(
            ["withdraws_id"], ["qms_evidence.id"], name=op.f("fk_qms_evidence_withdraws_id_qms_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qms_evidence")),
        sa.UniqueConstraint("statement_id", name=op.f("uq_qms_evidence_statement_id")),
    )
    with op.batch_alter_table("qms_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_qms_evidence_assignment", ["assignment_id"], unique=False)
        batch_op.create_index("ix_qms_evidence_completion", ["completion_id"], unique=False)
        batch_op.create_index("ix_qms_evidence_decision", ["decision"], unique=False)
        batch_op.create_index("ix_qms_evidence_person_item", ["person_id", "training_item_id"], unique=False)
        batch_op.create_index("ix_qms_evidence_withdraws", ["withdraws_id"], unique=False)
    _index_existing_versions()
    _evidence_is_append_only()


def _evidence_is_append_only() -> None:
    # Evidence rows are never changed nor deleted: a withdrawal is a new row (Part 11 §11.10(c)).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION qms_evidence_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'qms_evidence is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
        """)
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER qms_evidence_no_{operation.lower()} BEFORE {operation} ON qms_evidence
                FOR EACH ROW EXECUTE FUNCTION qms_evidence_refuse_change()
            """)
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER qms_evidence_no_{operation.lower()} BEFORE {operation} ON qms_evidence
                BEGIN SELECT RAISE(ABORT, 'qms_evidence is append-only: {operation} refused'); END
            """)


def _index_existing_versions() -> None:
    bind = op.get_bind()
    rows = []
    for version_id, iris in bind.execute(sa.text("SELECT id, activity_iris FROM qms_training_item_version")):
        if isinstance(iris, str):
            iris = json.loads(iris)
        for iri in sorted({i for i in iris or [] if i}):
            rows.append(
                {
                    "iri_key": hashlib.sha256(iri.encode()).hexdigest(),
                    "iri": iri,
                    "item_version_id": version_id,
                }
            )
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO qms_activity_iri (iri_key, iri, item_version_id) VALUES (:iri_key, :iri, :item_version_id)"
            ),
            rows,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS qms_evidence_no_update ON qms_evidence")
        op.execute("DROP TRIGGER IF EXISTS qms_evidence_no_delete ON qms_evidence")
        op.execute("DROP FUNCTION IF EXISTS qms_evidence_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS qms_evidence_no_update")
        op.execute("DROP TRIGGER IF EXISTS qms_evidence_no_delete")
    with op.batch_alter_table("qms_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_evidence_withdraws")
        batch_op.drop_index("ix_qms_evidence_person_item")
        batch_op.drop_index("ix_qms_evidence_decision")
        batch_op.drop_index("ix_qms_evidence_completion")
        batch_op.drop_index("ix_qms_evidence_assignment")

    op.drop_table("qms_evidence")
    with op.batch_alter_table("qms_activity_iri", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_activity_iri_version")

    op.drop_table("qms_activity_iri")
    with op.batch_alter_table("qms_evidence_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_qms_evidence_inbox_actor")
        batch_op.drop_index("ix_qms_evidence_inbox_activity")

    op.drop_table("qms_evidence_inbox")
