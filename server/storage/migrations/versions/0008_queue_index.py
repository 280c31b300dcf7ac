"""queue index: every column the waiting-ticket counts read

Revision ID: 0008_queue_index
Revises: 0006_province_alerts

How many are ahead of a ticket and how many wait in a field are counts over the field's waiting
tickets; with the old index (centre, status, field, position) each counted ticket was also read from
the table (its day, transfer, class), so a command's cost grew with the queue: issuing cost 1.5 ms
with 200 waiting and 2.9 ms with 7,500 (docs/PERFORMANCE.md). The new index holds those columns, the
counts read the index alone, and the call order's parts (equal on every column before the position)
still come out of it in queue order.
"""
from alembic import op

revision = '0008_queue_index'
down_revision = '0006_province_alerts'
branch_labels = None
depends_on = None

OLD = ("centre_id", "status", "field_id", "queue_pos")
NEW = ("centre_id", "status", "field_id", "day", "transfer_counter_id", "transferred", "priority", "queue_pos")


def upgrade() -> None:
    op.drop_index("ix_tickets_queue", table_name="tickets")
    op.create_index("ix_tickets_queue", "tickets", list(NEW))


def downgrade() -> None:
    op.drop_index("ix_tickets_queue", table_name="tickets")
    op.create_index("ix_tickets_queue", "tickets", list(OLD))
