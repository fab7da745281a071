"""revenue rollups and ingest lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:10:18.537338
"""
from alembic import op
import sqlalchemy as sa
import database


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_lock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batches', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('revenue_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hour', database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('amount_e4', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hour', 'currency', 'status', name='uq_revenue_rollups_group')
    )


def downgrade() -> None:
    op.drop_table('revenue_rollups')
    op.drop_table('ingest_lock')
