"""qms onboarding: SCIM provisioning clients, users and groups; import batches (document register,
legacy training), identity reconciliation decisions and day-0 cut-overs.

Revision ID: onboard_0001
Revises: (none; depends on qms_0001)
Create Date: 2026-12-03 12:42:37.107107
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'onboard_0001'
down_revision = None
branch_labels = ('onboard',)
depends_on = 'qms_0001'


def upgrade() -> None:
    op.create_table('qms_provisioning_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hint', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_provisioning_client')),
    sa.UniqueConstraint('name', name=op.f('uq_qms_provisioning_client_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_qms_provisioning_client_token_hash'))
    )
    op.create_table('qms_identity_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('source_key', sa.String(length=1100), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_qms_identity_decision_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_identity_decision'))
    )
    with op.batch_alter_table('qms_identity_decision', schema=None) as batch_op:
        batch_op.create_index('ix_qms_identity_decision_source', ['source', 'person_id'], unique=False)

    op.create_table('qms_scim_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scim_id', sa.String(length=36), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('display_name', sa.String(length=300), nullable=False),
    sa.Column('external_id', sa.String(length=300), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('job_function_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('member_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('resource', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['qms_provisioning_client.id'], name=op.f('fk_qms_scim_group_client_id_qms_provisioning_client')),
    sa.ForeignKeyConstraint(['department_id'], ['qms_department.id'], name=op.f('fk_qms_scim_group_department_id_qms_department')),
    sa.ForeignKeyConstraint(['job_function_id'], ['qms_job_function.id'], name=op.f('fk_qms_scim_group_job_function_id_qms_job_function')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_scim_group')),
    sa.UniqueConstraint('scim_id', name=op.f('uq_qms_scim_group_scim_id'))
    )
    with op.batch_alter_table('qms_scim_group', schema=None) as batch_op:
        batch_op.create_index('ix_qms_scim_group_name', ['display_name', 'deleted_at'], unique=False)

    op.create_table('qms_scim_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scim_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('user_name', sa.String(length=300), nullable=False),
    sa.Column('external_id', sa.String(length=300), nullable=True),
    sa.Column('resource', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['qms_provisioning_client.id'], name=op.f('fk_qms_scim_user_client_id_qms_provisioning_client')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_qms_scim_user_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_scim_user')),
    sa.UniqueConstraint('scim_id', name=op.f('uq_qms_scim_user_scim_id'))
    )
    with op.batch_alter_table('qms_scim_user', schema=None) as batch_op:
        batch_op.create_index('ix_qms_scim_user_name', ['user_name', 'deleted_at'], unique=False)
        batch_op.create_index('ix_qms_scim_user_person', ['person_id'], unique=False)

    op.create_table('qms_cutover',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cutover_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('qualified', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['signature_id'], ['electronic_signature.id'], name=op.f('fk_qms_cutover_signature_id_electronic_signature')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_cutover'))
    )
    op.create_table('qms_import_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source_system', sa.String(length=200), nullable=True),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['signature_id'], ['electronic_signature.id'], name=op.f('fk_qms_import_batch_signature_id_electronic_signature')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qms_import_batch'))
    )
    with op.batch_alter_table('qms_import_batch', schema=None) as batch_op:
        batch_op.create_index('ix_qms_import_batch_kind', ['kind', 'imported_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('qms_import_batch', schema=None) as batch_op:
        batch_op.drop_index('ix_qms_import_batch_kind')

    op.drop_table('qms_import_batch')
    op.drop_table('qms_cutover')
    with op.batch_alter_table('qms_scim_user', schema=None) as batch_op:
        batch_op.drop_index('ix_qms_scim_user_person')
        batch_op.drop_index('ix_qms_scim_user_name')

    op.drop_table('qms_scim_user')
    with op.batch_alter_table('qms_scim_group', schema=None) as batch_op:
        batch_op.drop_index('ix_qms_scim_group_name')

    op.drop_table('qms_scim_group')
    with op.batch_alter_table('qms_identity_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_qms_identity_decision_source')

    op.drop_table('qms_identity_decision')
    op.drop_table('qms_provisioning_client')
