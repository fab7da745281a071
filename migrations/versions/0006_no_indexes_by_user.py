"""no indexes by user on transactions and user activities: no query reads by user, and each cost ingest a page a row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:10:05.182043
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_transactions_user_occurred_at', table_name='transactions')
    op.drop_index('ix_user_activities_user_occurred_at', table_name='user_activities')


def downgrade() -> None:
    op.create_index('ix_user_activities_user_occurred_at', 'user_activities', ['user_id', 'occurred_at'], unique=False)
    op.create_index('ix_transactions_user_occurred_at', 'transactions', ['user_id', 'occurred_at'], unique=False)
