"""bookings: online numbers (and appointments) taken remotely

Revision ID: 0004_bookings
Revises: 0007_province_centres
"""
import layso.server.storage.models
import sqlalchemy as sa
from alembic import op

revision = '0004_bookings'
down_revision = '0007_province_centres'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dt = layso.server.storage.models.UTCDateTime()
    op.create_table(
        'bookings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=8), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('field_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('slot_start', dt, nullable=True),
        sa.Column('slot_end', dt, nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('track_token', sa.String(length=40), nullable=False),
        sa.Column('citizen_key', sa.String(length=64), nullable=True),
        sa.Column('request_id', sa.String(length=100), nullable=True),
        sa.Column('request_hash', sa.String(length=64), nullable=True),
        sa.Column('created_at', dt, nullable=False),
        sa.Column('checked_in_at', dt, nullable=True),
        sa.Column('checked_in_by', sa.String(length=10), nullable=True),
        sa.Column('lapsed_at', dt, nullable=True),
        sa.Column('lapse_reason', sa.String(length=20), nullable=True),
        sa.Column('cancelled_at', dt, nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centres.id']),
        sa.ForeignKeyConstraint(['field_id'], ['fields.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
        sa.UniqueConstraint('track_token'),
        sa.UniqueConstraint('centre_id', 'request_id'),
    )
    op.create_index('ix_bookings_day_field', 'bookings', ['centre_id', 'day', 'field_id'])
    op.create_index('ix_bookings_citizen', 'bookings', ['centre_id', 'day', 'citizen_key'])
    op.create_index('ix_bookings_status', 'bookings', ['centre_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_bookings_status', table_name='bookings')
    op.drop_index('ix_bookings_citizen', table_name='bookings')
    op.drop_index('ix_bookings_day_field', table_name='bookings')
    op.drop_table('bookings')
