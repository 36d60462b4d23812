"""Initial story store schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 17:06:50.501420

The first schema: raw incident versions, incident heads, sync state, quarantine, stories and their
entity index. Frozen here on purpose: later migrations change it, never this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

_UNPRODUCED = sa.column("produced") == sa.false()


def upgrade() -> None:
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('integration', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('integration', 'fingerprint', name=op.f('uq_quarantine_integration_fingerprint'))
    )
    op.create_table('raw_incident_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('integration', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('last_update', sa.String(length=32), nullable=False),
    sa.Column('last_update_ticks', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('produced', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_incident_versions')),
    sa.UniqueConstraint('tenant_id', 'incident_id', 'last_update_ticks', name=op.f('uq_raw_incident_versions_tenant_id_incident_id_last_update_ticks'))
    )
    with op.batch_alter_table('raw_incident_versions', schema=None) as batch_op:
        batch_op.create_index('ix_raw_incident_versions_pending', ['integration', 'id'], unique=False, sqlite_where=_UNPRODUCED, postgresql_where=_UNPRODUCED)

    op.create_table('stories',
    sa.Column('story_id', sa.String(length=500), nullable=False),
    sa.Column('integration', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('criticality', sa.Integer(), nullable=False),
    sa.Column('severity', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('vendor_status', sa.String(length=64), nullable=True),
    sa.Column('verdict', sa.String(length=32), nullable=True),
    sa.Column('predicted_verdict', sa.String(length=32), nullable=True),
    sa.Column('indication', sa.String(length=200), nullable=True),
    sa.Column('first_signal', sa.String(length=32), nullable=True),
    sa.Column('last_signal', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=True),
    sa.Column('updated_at', sa.String(length=32), nullable=True),
    sa.Column('merged_into', sa.String(length=500), nullable=True),
    sa.Column('campaign_id', sa.String(length=500), nullable=True),
    sa.Column('alert_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('story_id', name=op.f('pk_stories'))
    )
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.create_index('ix_stories_campaign_id', ['campaign_id'], unique=False)
        batch_op.create_index('ix_stories_integration_updated_at', ['integration', 'updated_at'], unique=False)
        batch_op.create_index('ix_stories_is_open_criticality', ['is_open', sa.text('criticality DESC'), 'first_signal', 'story_id'], unique=False)
        batch_op.create_index('ix_stories_criticality_first_signal', [sa.text('criticality DESC'), 'first_signal', 'story_id'], unique=False)
        batch_op.create_index('ix_stories_merged_into', ['merged_into'], unique=False)
        batch_op.create_index('ix_stories_status_criticality', ['status', 'criticality'], unique=False)
        batch_op.create_index('ix_stories_tenant_id_incident_id', ['tenant_id', 'incident_id'], unique=False)
        batch_op.create_index('ix_stories_updated_at', ['updated_at'], unique=False)

    op.create_table('sync_state',
    sa.Column('integration', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('watermark', sa.String(length=32), nullable=True),
    sa.Column('watermark_ticks', sa.BigInteger(), nullable=True),
    sa.Column('overlap_seconds', sa.Integer(), nullable=False),
    sa.Column('lookback_start', sa.String(length=32), nullable=False),
    sa.Column('seen', sa.Text(), server_default='[]', nullable=False),
    sa.Column('runs', sa.Integer(), server_default='0', nullable=False),
    sa.Column('batches', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('versions_stored', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('quarantined', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('integration', name=op.f('pk_sync_state'))
    )
    op.create_table('incidents',
    sa.Column('tenant_id', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.String(length=200), nullable=False),
    sa.Column('integration', sa.String(length=200), nullable=False),
    sa.Column('latest_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_update', sa.String(length=32), nullable=False),
    sa.Column('last_update_ticks', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=True),
    sa.Column('redirect_incident_id', sa.String(length=200), nullable=True),
    sa.Column('has_mdo_alert', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['latest_version_id'], ['raw_incident_versions.id'], name=op.f('fk_incidents_latest_version_id_raw_incident_versions')),
    sa.PrimaryKeyConstraint('tenant_id', 'incident_id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_tenant_id_last_update_ticks', ['tenant_id', 'last_update_ticks'], unique=False)
        batch_op.create_index('ix_incidents_tenant_id_redirect_incident_id', ['tenant_id', 'redirect_incident_id'], unique=False)

    op.create_table('story_entities',
    sa.Column('story_id', sa.String(length=500), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=1000), nullable=False),
    sa.Column('roles', sa.Text(), server_default='[]', nullable=False),
    sa.Column('verdict', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['story_id'], ['stories.story_id'], name=op.f('fk_story_entities_story_id_stories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('story_id', 'type', 'value', name=op.f('pk_story_entities'))
    )
    with op.batch_alter_table('story_entities', schema=None) as batch_op:
        batch_op.create_index('ix_story_entities_type_value', ['type', 'value'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('story_entities', schema=None) as batch_op:
        batch_op.drop_index('ix_story_entities_type_value')

    op.drop_table('story_entities')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_tenant_id_redirect_incident_id')
        batch_op.drop_index('ix_incidents_tenant_id_last_update_ticks')

    op.drop_table('incidents')
    op.drop_table('sync_state')
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.drop_index('ix_stories_updated_at')
        batch_op.drop_index('ix_stories_tenant_id_incident_id')
        batch_op.drop_index('ix_stories_status_criticality')
        batch_op.drop_index('ix_stories_merged_into')
        batch_op.drop_index('ix_stories_is_open_criticality')
        batch_op.drop_index('ix_stories_criticality_first_signal')
        batch_op.drop_index('ix_stories_integration_updated_at')
        batch_op.drop_index('ix_stories_campaign_id')

    op.drop_table('stories')
    with op.batch_alter_table('raw_incident_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_incident_versions_pending', sqlite_where=_UNPRODUCED, postgresql_where=_UNPRODUCED)

    op.drop_table('raw_incident_versions')
    op.drop_table('quarantine')
