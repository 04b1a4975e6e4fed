"""work rows keep a heartbeat

Revision ID: c41d7e2a9b10
Revises: b3bbdbe158ec
Create Date: 2026-11-30 11:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41d7e2a9b10'
down_revision = 'b3bbdbe158ec'
branch_labels = None
depends_on = None

TABLES = ('datasets', 'jobs', 'bulk_partitions')


def upgrade():
    # NULL on rows written before: the reconciler then judges a running row by updated_at.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('heartbeat_at')
