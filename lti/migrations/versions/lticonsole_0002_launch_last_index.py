"""The last launch of each deployment, read by an index (the console's LTI pages).

Revision ID: lticonsole_0002
Revises: lticonsole_0001 (depends on lti_0001, which made lti_launch)
Create Date: 2026-12-03
"""
from alembic import op

revision = 'lticonsole_0002'
down_revision = 'lticonsole_0001'
branch_labels = None
depends_on = 'lti_0001'


def upgrade() -> None:
    with op.batch_alter_table('lti_launch', schema=None) as batch_op:
        batch_op.create_index('ix_lti_launch_deployment_created',
                              ['platform_id', 'deployment_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lti_launch', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_launch_deployment_created')
