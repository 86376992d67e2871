"""lti: platforms, deployments, tool keys, server-side state, launches, courses, links

Revision ID: lti_0001
Revises:
Create Date: 2026-11-29 09:37:39.214059
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'lti_0001'
down_revision = None
branch_labels = ('lti',)
depends_on = 'core_0001'

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('lti_platform',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('auth_login_url', sa.String(length=1000), nullable=False),
    sa.Column('auth_token_url', sa.String(length=1000), nullable=False),
    sa.Column('auth_audience', sa.String(length=1000), nullable=True),
    sa.Column('keyset_url', sa.String(length=1000), nullable=True),
    sa.Column('public_key_pem', sa.Text(), nullable=True),
    sa.Column('xapi_homepage', sa.String(length=500), nullable=True),
    sa.Column('role_map', JSON, nullable=True),
    sa.Column('registered_by', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_platform')),
    sa.UniqueConstraint('issuer', 'client_id', name='uq_lti_platform_issuer_client')
    )
    op.create_table('lti_state_entry',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', JSON, nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_lti_state_entry'))
    )
    with op.batch_alter_table('lti_state_entry', schema=None) as batch_op:
        batch_op.create_index('ix_lti_state_entry_expires_at', ['expires_at'], unique=False)

    op.create_table('lti_tool_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_key_pem', sa.Text(), nullable=False),
    sa.Column('public_jwk', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_tool_key')),
    sa.UniqueConstraint('kid', name=op.f('uq_lti_tool_key_kid'))
    )
    op.create_table('lti_context',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('context_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('memberships_url', sa.String(length=1000), nullable=True),
    sa.Column('roster_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_context_platform_id_lti_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_context')),
    sa.UniqueConstraint('platform_id', 'context_id', name='uq_lti_context_platform_context')
    )
    op.create_table('lti_deployment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_deployment_platform_id_lti_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_deployment')),
    sa.UniqueConstraint('platform_id', 'deployment_id', name='uq_lti_deployment_platform_deployment')
    )
    op.create_table('lti_registration_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('platform_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_registration_token_platform_id_lti_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_registration_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_lti_registration_token_token_hash'))
    )
    op.create_table('lti_context_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('context_pk', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('lti_roles', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['context_pk'], ['lti_context.id'], name=op.f('fk_lti_context_member_context_pk_lti_context'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_lti_context_member_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_context_member')),
    sa.UniqueConstraint('context_pk', 'person_id', name='uq_lti_context_member_context_person')
    )
    with op.batch_alter_table('lti_context_member', schema=None) as batch_op:
        batch_op.create_index('ix_lti_context_member_person', ['person_id'], unique=False)

    op.create_table('lti_resource_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('context_pk', sa.Integer(), nullable=True),
    sa.Column('resource_link_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('training_item_id', sa.Integer(), nullable=True),
    sa.Column('lineitem_url', sa.String(length=1000), nullable=True),
    sa.Column('lineitems_url', sa.String(length=1000), nullable=True),
    sa.Column('ags_scopes', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['context_pk'], ['lti_context.id'], name=op.f('fk_lti_resource_link_context_pk_lti_context')),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_resource_link_platform_id_lti_platform')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_resource_link')),
    sa.UniqueConstraint('platform_id', 'deployment_id', 'resource_link_id', name='uq_lti_resource_link_platform_link')
    )
    with op.batch_alter_table('lti_resource_link', schema=None) as batch_op:
        batch_op.create_index('ix_lti_resource_link_item', ['training_item_id'], unique=False)

    op.create_table('lti_launch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle_hash', sa.String(length=64), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), nullable=False),
    sa.Column('message_type', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lti_roles', JSON, nullable=False),
    sa.Column('context_id', sa.String(length=255), nullable=True),
    sa.Column('resource_link_id', sa.Integer(), nullable=True),
    sa.Column('training_item_id', sa.Integer(), nullable=True),
    sa.Column('claims', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_lti_launch_person_id_person')),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_launch_platform_id_lti_platform')),
    sa.ForeignKeyConstraint(['resource_link_id'], ['lti_resource_link.id'], name=op.f('fk_lti_launch_resource_link_id_lti_resource_link')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_lti_launch_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_launch')),
    sa.UniqueConstraint('handle_hash', name=op.f('uq_lti_launch_handle_hash'))
    )
    with op.batch_alter_table('lti_launch', schema=None) as batch_op:
        batch_op.create_index('ix_lti_launch_person', ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('lti_launch', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_launch_person')

    op.drop_table('lti_launch')
    with op.batch_alter_table('lti_resource_link', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_resource_link_item')

    op.drop_table('lti_resource_link')
    with op.batch_alter_table('lti_context_member', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_context_member_person')

    op.drop_table('lti_context_member')
    op.drop_table('lti_registration_token')
    op.drop_table('lti_deployment')
    op.drop_table('lti_context')
    op.drop_table('lti_tool_key')
    with op.batch_alter_table('lti_state_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_state_entry_expires_at')

    op.drop_table('lti_state_entry')
    op.drop_table('lti_platform')
