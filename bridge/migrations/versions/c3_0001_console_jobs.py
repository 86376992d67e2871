"""Console exports run by the worker: the job table (kind, parameters, progress, the file made).

Revision ID: c3_0001
Revises:
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'c3_0001'
down_revision = None
branch_labels = ('c3',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('console_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.LargeBinary(), nullable=True),
    sa.Column('media_type', sa.String(length=100), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_job'))
    )
    op.create_index('ix_console_job_status', 'console_job', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_console_job_status', table_name='console_job')
    op.drop_table('console_job')
