"""leader fences: the newest fencing token each leader role wrote with, so a paused old leader's late writes are refused

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leader_fences',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('token', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('leader_fences')
