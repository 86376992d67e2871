"""lti: deep-linking return origins of a platform; e-mail matches waiting for proof

Revision ID: lti_0002
Revises: lti_0001
Create Date: 2026-12-03 09:50:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'lti_0002'
down_revision = 'lti_0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table('lti_platform', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_origins', JSON, nullable=True))

    op.create_table('lti_identity_match',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('launch_person_id', sa.Integer(), nullable=False),
    sa.Column('candidate_person_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_person_id'], ['person.id'], name=op.f('fk_lti_identity_match_candidate_person_id_person')),
    sa.ForeignKeyConstraint(['launch_person_id'], ['person.id'], name=op.f('fk_lti_identity_match_launch_person_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_identity_match_platform_id_lti_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_identity_match')),
    sa.UniqueConstraint('platform_id', 'subject', 'candidate_person_id', name='uq_lti_identity_match_subject_candidate')
    )
    with op.batch_alter_table('lti_identity_match', schema=None) as batch_op:
        batch_op.create_index('ix_lti_identity_match_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lti_identity_match', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_identity_match_status')

    op.drop_table('lti_identity_match')
    with op.batch_alter_table('lti_platform', schema=None) as batch_op:
        batch_op.drop_column('return_origins')
