"""index blobs by uploader (per-user attachment quota)

Revision ID: 4c1d7e9a2b50
Revises: c4e1f0a7d2b3
Create Date: 2026-11-29 19:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '4c1d7e9a2b50'
down_revision = "c4e1f0a7d2b3"
branch_labels = None
depends_on = None


def upgrade():
    # Every upload sums the uploader's blob sizes (sendapp/blobs/quota.py).
    op.create_index('ix_blobs_uploader_id', 'blobs', ['uploader_id'], unique=False)


def downgrade():
    op.drop_index('ix_blobs_uploader_id', table_name='blobs')
