"""jobs, datasets and bulk partitions count their attempts

Revision ID: 9f0200c588cb
Revises: 448a999dfebf
Create Date: 2026-11-21 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9f0200c588cb'
down_revision = '448a999dfebf'
branch_labels = None
depends_on = None

TABLES = ('datasets', 'jobs', 'bulk_partitions')


def upgrade():
    # Rows stored before this revision start at 0 attempts.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('attempts')
