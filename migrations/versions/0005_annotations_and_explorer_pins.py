"""annotations posted by other systems, and metric explorer views pinned per user

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import database


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('annotations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('time', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('time_end', database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=80), nullable=True),
        sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_annotations_time'), 'annotations', ['time'], unique=False)
    op.create_table('explorer_pins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('view', sa.JSON(), nullable=False),
        sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_explorer_pins_user_id_position', 'explorer_pins', ['user_id', 'position'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_explorer_pins_user_id_position', table_name='explorer_pins')
    op.drop_table('explorer_pins')
    op.drop_index(op.f('ix_annotations_time'), table_name='annotations')
    op.drop_table('annotations')
