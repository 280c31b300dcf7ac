"""counters.ticket_id's foreign key, on PostgreSQL

Revision ID: 0009_counter_ticket_key
Revises: 0008_queue_index

The ticket a counter serves was declared with a foreign key to tickets (`use_alter`: tickets point
at counters too), and the first migration's create_table left such keys out, on either database. On
PostgreSQL it is added here, NOT VALID: enforced for every change from now on, without checking (or
refusing to start over) rows written before. SQLite would have to rebuild `counters`, which other
tables point at; there the column stays without the constraint (tests/ops/test_migrations.py).
"""
from alembic import op

revision = '0009_counter_ticket_key'
down_revision = '0008_queue_index'
branch_labels = None
depends_on = None

NAME = "counters_ticket_id_fkey"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(NAME, "counters", "tickets", ["ticket_id"], ["id"], postgresql_not_valid=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "counters", type_="foreignkey")
