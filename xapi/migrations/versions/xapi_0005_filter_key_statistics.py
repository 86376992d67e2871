"""xapi: PostgreSQL plans filters with statistics on 1,000 common keys, as index-only scans

Revision ID: xapi_0005
Revises: xapi_0004
Create Date: 2026-11-29

With the default target of 100, PostgreSQL's most-common-values list of ``xapi_statement_index.key``
holds 100 keys. A store with 50 verbs and 50 courses already has more common keys than that, so
some verbs were estimated at the average key's 240 rows instead of their 20,000. The planner then
hashed a whole verb's rows for agent+verb queries: 116 ms instead of 5 at 1,000,000 statements.
A target of 1000 keeps 1,000 common keys; ANALYZE then samples 300,000 rows (3 s here at 1M).

The primary key of the filter rows also carries ``relation`` (INCLUDE), so a filter reads only
the index, never the table (once autovacuum has marked the pages all-visible). At 1,000,000
statements agent+verb went from 5.4 to 3.5 ms. Rebuilding the key took 20 s here at 1,000,000
statements (8.4 million rows), during which the table is locked.

SQLite keeps no statistics and already stores the rows in the key: nothing changes there.
"""

from alembic import op

revision = "xapi_0005"
down_revision = "xapi_0004"
branch_labels = None
depends_on = None


def _primary_key(include_relation: bool) -> None:
    op.execute(
        "ALTER TABLE xapi_statement_index DROP CONSTRAINT pk_xapi_statement_index, "
        "ADD CONSTRAINT pk_xapi_statement_index PRIMARY KEY (key, seq)"
        + (" INCLUDE (relation)" if include_relation else "")
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE xapi_statement_index ALTER COLUMN key SET STATISTICS 1000")
        _primary_key(include_relation=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _primary_key(include_relation=False)
        op.execute("ALTER TABLE xapi_statement_index ALTER COLUMN key SET STATISTICS -1")
