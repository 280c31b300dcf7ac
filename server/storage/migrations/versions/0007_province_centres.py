"""province: centres get an area, a kind and a suspension time; roles fit province_admin

Revision ID: 0007_province_centres
Revises: 0001

SQLite keeps VARCHAR lengths as decoration, so only other databases widen `users.role` (a table
rebuild on SQLite would fight the foreign keys that point at users).
"""
import layso.server.storage.models
import sqlalchemy as sa
from alembic import op

revision = "0007_province_centres"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("centres", sa.Column("area", sa.String(length=100), nullable=False, server_default=""))
    op.add_column("centres", sa.Column("kind", sa.String(length=20), nullable=False, server_default=""))
    op.add_column("centres", sa.Column("suspended_at", layso.server.storage.models.UTCDateTime(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("users", "role", existing_type=sa.String(length=10), type_=sa.String(length=20),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("users", "role", existing_type=sa.String(length=20), type_=sa.String(length=10),
                        existing_nullable=False)
    with op.batch_alter_table("centres") as batch:
        batch.drop_column("suspended_at")
        batch.drop_column("kind")
        batch.drop_column("area")
