"""notify_subscriptions by creation time

Revision ID: 0010_notify_subs_created
Revises: 0009_counter_ticket_key

The notifier asks, every time a ticket is called, whether anybody could be waiting for a message:
an active subscription of the last two days (a ticket lives one day) or a message due in the outbox
(`Matcher.idle`). Subscriptions of past days stay in the table (a browser's Web Push subscription is
never switched off), so that question needs the subscriptions by creation time: the recent ones are
read, not the year's.
"""
from alembic import op

revision = '0010_notify_subs_created'
down_revision = '0009_counter_ticket_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notify_subs_created", "notify_subscriptions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notify_subs_created", table_name="notify_subscriptions")
