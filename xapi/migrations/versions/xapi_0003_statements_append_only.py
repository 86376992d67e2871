"""xapi: stored statements are append-only (only the voided flag may change)

Revision ID: xapi_0003
Revises: xapi_0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "xapi_0003"
down_revision = "xapi_0002"
branch_labels = None
depends_on = None

IMMUTABLE = "seq, statement_id, stored, voids, credential_id, version, body, attachment_sha2s"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION xapi_statement_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'xapi_statement is append-only: % refused (only voided may change)', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute(f"""
            CREATE TRIGGER xapi_statement_immutable BEFORE UPDATE OF {IMMUTABLE} ON xapi_statement
            FOR EACH ROW EXECUTE FUNCTION xapi_statement_refuse_change()
        """)
        op.execute("""
            CREATE TRIGGER xapi_statement_no_delete BEFORE DELETE ON xapi_statement
            FOR EACH ROW EXECUTE FUNCTION xapi_statement_refuse_change()
        """)
    else:
        op.execute(f"""
            CREATE TRIGGER xapi_statement_immutable BEFORE UPDATE OF {IMMUTABLE} ON xapi_statement
            BEGIN SELECT RAISE(ABORT, 'xapi_statement is append-only: UPDATE refused (only voided may change)'); END
        """)
        op.execute("""
            CREATE TRIGGER xapi_statement_no_delete BEFORE DELETE ON xapi_statement
            BEGIN SELECT RAISE(ABORT, 'xapi_statement is append-only: DELETE refused'); END
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS xapi_statement_no_delete ON xapi_statement")
        op.execute("DROP TRIGGER IF EXISTS xapi_statement_immutable ON xapi_statement")
        op.execute("DROP FUNCTION IF EXISTS xapi_statement_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS xapi_statement_no_delete")
        op.execute("DROP TRIGGER IF EXISTS xapi_statement_immutable")
