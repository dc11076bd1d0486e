"""login sessions remember when they were last used (idle lifetime)

Revision ID: c4e1f0a7d2b3
Revises: b9a35b9d1077
Create Date: 2026-11-29 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e1f0a7d2b3'
down_revision = 'b9a35b9d1077'
branch_labels = None
depends_on = None


def upgrade():
    # Existing sessions count as last used when they were created, so none ends at the upgrade
    # unless it has really been idle that long.
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen', sa.BigInteger(), nullable=True))
    op.execute('UPDATE login_sessions SET last_seen = created')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.alter_column('last_seen', existing_type=sa.BigInteger(), nullable=False)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen')
