"""groups (PROTOCOL §9): groups, members, wrapped message keys; group messages and blobs

Revision ID: 7a9e3c5d1f20
Revises: 4c1d7e9a2b50
Create Date: 2026-11-30 01:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a9e3c5d1f20'
down_revision = '4c1d7e9a2b50'
branch_labels = None
depends_on = None


def _sqlite_sequence(table):
    """The table's AUTOINCREMENT counter on SQLite (None elsewhere or when unused)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return None
    return bind.execute(sa.text('SELECT seq FROM sqlite_sequence WHERE name = :name'),
                        {'name': table}).scalar()


def _restore_sqlite_sequence(table, seq):
    """Put back a counter that a table rebuild reset to the copied rows' max(id)."""
    if seq is None:
        return
    bind = op.get_bind()
    bind.execute(sa.text('DELETE FROM sqlite_sequence WHERE name = :name'), {'name': table})
    bind.execute(sa.text('INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)'),
                 {'name': table, 'seq': seq})


def upgrade():
    op.create_table(
        'groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=False),
        sa.Column('created', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'group_members',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('added_by', sa.Integer(), nullable=False),
        sa.Column('added', sa.BigInteger(), nullable=False),
        sa.Column('read_up_to', sa.Integer(), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'member')", name='ck_group_member_role'),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_id', 'user_id'),
    )
    op.create_index('ix_group_members_user_id', 'group_members', ['user_id'])
    # SQLite rebuilds the table to relax NOT NULL; keep AUTOINCREMENT and its counter, so an
    # id once given (even of a deleted message) is never given again: ids are sync cursors.
    sequence = _sqlite_sequence('messages')
    with op.batch_alter_table('messages', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch.alter_column('recipient_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('lo_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('hi_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('rk', existing_type=sa.String(length=12), nullable=True)
        batch.create_foreign_key('fk_messages_group_id', 'groups', ['group_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_check_constraint('ck_message_kind',
                                      '(group_id IS NULL) = (recipient_id IS NOT NULL)')
        batch.create_index('ix_messages_group_id', ['group_id', 'id'])
    _restore_sqlite_sequence('messages', sequence)
    op.create_table(
        'message_keys',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('rk', sa.String(length=12), nullable=False),
        sa.Column('n', sa.String(length=16), nullable=False),
        sa.Column('w', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', 'user_id'),
    )
    op.create_index('ix_message_keys_user_id', 'message_keys', ['user_id', 'message_id'])
    with op.batch_alter_table('blobs') as batch:
        batch.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch.alter_column('lo_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('hi_id', existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key('fk_blobs_group_id', 'groups', ['group_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_index('ix_blobs_group_id', ['group_id'])


def downgrade():
    op.execute('DELETE FROM blobs WHERE group_id IS NOT NULL')
    with op.batch_alter_table('blobs') as batch:
        batch.drop_index('ix_blobs_group_id')
        batch.drop_constraint('fk_blobs_group_id', type_='foreignkey')
        batch.alter_column('hi_id', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('lo_id', existing_type=sa.Integer(), nullable=False)
        batch.drop_column('group_id')
    op.drop_index('ix_message_keys_user_id', table_name='message_keys')
    op.drop_table('message_keys')
    op.execute('DELETE FROM messages WHERE group_id IS NOT NULL')
    sequence = _sqlite_sequence('messages')
    with op.batch_alter_table('messages', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_index('ix_messages_group_id')
        batch.drop_constraint('ck_message_kind', type_='check')
        batch.drop_constraint('fk_messages_group_id', type_='foreignkey')
        batch.alter_column('rk', existing_type=sa.String(length=12), nullable=False)
        batch.alter_column('hi_id', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('lo_id', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('recipient_id', existing_type=sa.Integer(), nullable=False)
        batch.drop_column('group_id')
    _restore_sqlite_sequence('messages', sequence)
    op.drop_index('ix_group_members_user_id', table_name='group_members')
    op.drop_table('group_members')
    op.drop_table('groups')
