"""Validation runs: the signed IQ/OQ evidence reports of ``gxpbridge validate run``.

A branch of its own (label ``validate``) that depends on the core schema, so it merges with
any later core revision without a second head on the core branch.

Revision ID: validate_0001
Revises:
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = 'validate_0001'
down_revision = None
branch_labels = ('validate',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('validation_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('executor_user_id', sa.Integer(), nullable=False),
    sa.Column('software_version', sa.String(length=64), nullable=False),
    sa.Column('build_hash', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('iq_result', sa.String(length=16), nullable=False),
    sa.Column('oq_result', sa.String(length=16), nullable=False),
    sa.Column('requirements_total', sa.Integer(), nullable=False),
    sa.Column('requirements_gaps', sa.Integer(), nullable=False),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=False),
    sa.Column('report_html_sha256', sa.String(length=64), nullable=False),
    sa.Column('report_pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('report_pdf', sa.LargeBinary(), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['executor_user_id'], ['user_account.id'], name=op.f('fk_validation_run_executor_user_id_user_account')),
    sa.ForeignKeyConstraint(['signature_id'], ['electronic_signature.id'], name=op.f('fk_validation_run_signature_id_electronic_signature')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_run')),
    sa.UniqueConstraint('signature_id', name=op.f('uq_validation_run_signature_id'))
    )


def downgrade() -> None:
    op.drop_table('validation_run')
