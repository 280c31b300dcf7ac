"""notifications: subscriptions and the outbox

Revision ID: 0004_notify_outbox
Revises: 0004_bookings
"""
import layso.server.storage.models
import sqlalchemy as sa
from alembic import op

revision = '0004_notify_outbox'
down_revision = '0004_bookings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dt = layso.server.storage.models.UTCDateTime()
    op.create_table(
        'notify_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('ahead', sa.Integer(), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('subscription', sa.JSON(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', dt, nullable=False),
        sa.ForeignKeyConstraint(['centre_id'], ['centres.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id', 'channel'),
    )
    op.create_index('ix_notify_subs_active', 'notify_subscriptions', ['centre_id', 'active'])
    op.create_table(
        'notify_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', dt, nullable=False),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.Column('created_at', dt, nullable=False),
        sa.Column('trigger_at', dt, nullable=True),
        sa.Column('sent_at', dt, nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centres.id']),
        sa.ForeignKeyConstraint(['subscription_id'], ['notify_subscriptions.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription_id', 'kind', 'channel'),
    )
    op.create_index('ix_outbox_due', 'notify_outbox', ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_centre', 'notify_outbox', ['centre_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_centre', table_name='notify_outbox')
    op.drop_index('ix_outbox_due', table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index('ix_notify_subs_active', table_name='notify_subscriptions')
    op.drop_table('notify_subscriptions')
