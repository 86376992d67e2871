"""Policy settings changed in the console (``policy_override``): each row overrides the
environment variable it is named after (bridge.core.policy_store).

A branch of its own (label ``lticonsole``) on the core schema, so it merges with any later core
revision without a second head on the core branch.

Revision ID: lticonsole_0001
Revises: (none; depends on core_0001)
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'lticonsole_0001'
down_revision = None
branch_labels = ('lticonsole',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('policy_override',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
              nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_policy_override'))
    )


def downgrade() -> None:
    op.drop_table('policy_override')
