"""login sessions remember a short device summary ("Firefox on Android") for "My devices"

Revision ID: d8f2a4c6e1b7
Revises: 7a9e3c5d1f20
Create Date: 2026-11-30 05:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8f2a4c6e1b7'
down_revision = '7a9e3c5d1f20'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: sessions from before the upgrade have no summary ("unknown device").
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('device')
