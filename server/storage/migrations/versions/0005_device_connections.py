"""device connections: the online flag shared by several server processes

Revision ID: 0005
Revises: 0007_province_centres
"""
import layso.server.storage.models
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004_notify_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_connections',
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('process', sa.String(length=64), nullable=False),
        sa.Column('seen_at', layso.server.storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('sid'),
    )
    op.create_index('ix_device_connections_device_id', 'device_connections', ['device_id'])
    op.create_index('ix_device_connections_process', 'device_connections', ['process'])


def downgrade() -> None:
    op.drop_index('ix_device_connections_process', 'device_connections')
    op.drop_index('ix_device_connections_device_id', 'device_connections')
    op.drop_table('device_connections')
