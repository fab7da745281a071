"""alert rules: the fields of SPEC §9

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import database


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults fill the rows that exist; the models set every value themselves, so they are dropped after.
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filters', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('group_by', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('recovery_threshold', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('compare_offset_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('annotations', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('nodata_state', sa.String(length=16), nullable=False, server_default='nodata'))
        batch_op.add_column(sa.Column('error_state', sa.String(length=16), nullable=False, server_default='error'))
        batch_op.add_column(sa.Column('created_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('updated_at', database.UTCDateTime(timezone=True), nullable=False,
                                      server_default=sa.func.current_timestamp()))
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        for column in ('filters', 'group_by', 'annotations', 'nodata_state', 'error_state', 'updated_at'):
            batch_op.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        for column in ('updated_at', 'created_by', 'error_state', 'nodata_state', 'annotations',
                       'compare_offset_seconds', 'recovery_threshold', 'group_by', 'filters'):
            batch_op.drop_column(column)
