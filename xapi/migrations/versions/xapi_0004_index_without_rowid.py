"""xapi: filter rows clustered on their key (SQLite WITHOUT ROWID); voids indexed only where set

Revision ID: xapi_0004
Revises: xapi_0003
Create Date: 2026-11-29

On SQLite a table with a composite primary key keeps a hidden rowid B-tree beside the key index:
every filter row cost three B-tree inserts. WITHOUT ROWID stores the rows in the primary key
itself (two inserts with the ``seq`` index). Almost no statement voids another, so the ``voids``
index keeps only the rows where it is set.
"""

import sqlalchemy as sa
from alembic import op

revision = "xapi_0004"
down_revision = "xapi_0003"
branch_labels = None
depends_on = None



def _rebuild_index_table(without_rowid: bool) -> None:
    # SQLite cannot alter a table's storage: build the new one, copy in key order, swap.
    op.execute(
        "CREATE TABLE xapi_statement_index_new (key VARCHAR(32) NOT NULL, seq INTEGER NOT NULL, "
        "relation SMALLINT NOT NULL, CONSTRAINT pk_xapi_statement_index PRIMARY KEY (key, seq))"
        + (" WITHOUT ROWID" if without_rowid else "")
    )
    op.execute(
        "INSERT INTO xapi_statement_index_new (key, seq, relation) "
        "SELECT key, seq, relation FROM xapi_statement_index ORDER BY key, seq"
    )
    op.drop_index("ix_xapi_statement_index_seq", table_name="xapi_statement_index")
    op.drop_table("xapi_statement_index")
    op.rename_table("xapi_statement_index_new", "xapi_statement_index")
    op.create_index("ix_xapi_statement_index_seq", "xapi_statement_index", ["seq"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_index_table(without_rowid=True)
    op.drop_index("ix_xapi_statement_voids", table_name="xapi_statement")
    op.create_index(
        "ix_xapi_statement_voids",
        "xapi_statement",
        ["voids"],
        sqlite_where=sa.text("voids IS NOT NULL"),
        postgresql_where=sa.text("voids IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_xapi_statement_voids", table_name="xapi_statement")
    op.create_index("ix_xapi_statement_voids", "xapi_statement", ["voids"])
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_index_table(without_rowid=False)
