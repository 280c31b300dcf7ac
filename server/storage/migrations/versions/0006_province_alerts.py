"""province alerts: the alerts' history, the province's settings, alert messages in the outbox

Revision ID: 0006_province_alerts
Revises: 0005

The outbox's subscription and ticket become optional (an alert has neither) and it gains the alert,
the audience whose settings hold the channel, and a key naming each alert message once. On SQLite
the outbox is rebuilt (batch mode); nothing points at it. Ratings are found by centre and time
(the statistics of a month among a year of a province's ratings), no longer by centre alone.
"""
import layso.server.storage.models
import sqlalchemy as sa
from alembic import op

revision = '0006_province_alerts'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dt = layso.server.storage.models.UTCDateTime()
    op.create_table(
        'province_settings',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('updated_at', dt, nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'province_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('subject', sa.String(length=60), nullable=False),
        sa.Column('open_key', sa.String(length=120), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('started_at', dt, nullable=False),
        sa.Column('notified_at', dt, nullable=True),
        sa.Column('cleared_at', dt, nullable=True),
        sa.ForeignKeyConstraint(['centre_id'], ['centres.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('open_key'),
    )
    op.create_index('ix_province_alerts_centre', 'province_alerts', ['centre_id', 'started_at'])
    op.create_index('ix_ratings_centre_at', 'ratings', ['centre_id', 'at'])
    op.drop_index('ix_ratings_centre_id', table_name='ratings')
    with op.batch_alter_table('notify_outbox') as batch:
        batch.alter_column('subscription_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('ticket_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('alert_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('audience', sa.String(length=10), nullable=False, server_default='centre'))
        batch.add_column(sa.Column('dedupe_key', sa.String(length=120), nullable=True))
        batch.create_foreign_key('fk_notify_outbox_alert_id', 'province_alerts', ['alert_id'], ['id'])
        batch.create_unique_constraint('uq_notify_outbox_dedupe_key', ['dedupe_key'])


def downgrade() -> None:
    op.execute("DELETE FROM notify_outbox WHERE alert_id IS NOT NULL")
    with op.batch_alter_table('notify_outbox') as batch:
        batch.drop_constraint('uq_notify_outbox_dedupe_key', type_='unique')
        batch.drop_constraint('fk_notify_outbox_alert_id', type_='foreignkey')
        batch.drop_column('dedupe_key')
        batch.drop_column('audience')
        batch.drop_column('alert_id')
        batch.alter_column('ticket_id', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('subscription_id', existing_type=sa.Integer(), nullable=False)
    op.create_index('ix_ratings_centre_id', 'ratings', ['centre_id'])
    op.drop_index('ix_ratings_centre_at', table_name='ratings')
    op.drop_index('ix_province_alerts_centre', table_name='province_alerts')
    op.drop_table('province_alerts')
    op.drop_table('province_settings')
