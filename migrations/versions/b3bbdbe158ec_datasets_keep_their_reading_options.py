"""datasets keep their reading options

Revision ID: b3bbdbe158ec
Revises: 9f0200c588cb
Create Date: 2026-11-30 08:57:47.089261

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3bbdbe158ec'
down_revision = '9f0200c588cb'
branch_labels = None
depends_on = None


def upgrade():
    # Datasets stored before this revision keep NULL here and are read with their column_mapping
    # (services.datasets.dataset_options); column_mapping stays, and new rows write both.
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('read_options', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('read_options')
