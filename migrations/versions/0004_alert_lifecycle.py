"""alerts: instances with a lifecycle, their history, silences, receivers and deliveries (SPEC §9)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:30:00.000000
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa
import database


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

NEW_ALERT_COLUMNS = ('rule_name', 'fingerprint', 'annotations', 'threshold', 'state_since', 'fired_at',
                     'silenced', 'flapping', 'notified_state', 'notified_at')


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_name', sa.String(length=120), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('annotations', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('threshold', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('state_since', database.UTCDateTime(timezone=True), nullable=False,
                                      server_default=sa.func.current_timestamp()))
        batch_op.add_column(sa.Column('fired_at', database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('silenced', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('flapping', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('notified_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('notified_at', database.UTCDateTime(timezone=True), nullable=True))
    _fill_existing_alerts()
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for column in ('rule_name', 'fingerprint', 'annotations', 'state_since', 'silenced', 'flapping'):
            batch_op.alter_column(column, server_default=None)
        batch_op.create_unique_constraint('uq_alerts_rule_fingerprint', ['rule_id', 'fingerprint'])

    op.create_table('alert_transitions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('from_state', sa.String(length=16), nullable=False),
        sa.Column('to_state', sa.String(length=16), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_alert_transitions_alert_at', 'alert_transitions', ['alert_id', 'at'], unique=False)
    op.create_index(op.f('ix_alert_transitions_at'), 'alert_transitions', ['at'], unique=False)

    op.create_table('silences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('matchers', sa.JSON(), nullable=False),
        sa.Column('starts_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=True),
        sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_silences_ends_at'), 'silences', ['ends_at'], unique=False)

    op.create_table('receivers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('format', sa.String(length=16), nullable=False),
        sa.Column('send_resolved', sa.Boolean(), nullable=False),
        sa.Column('min_severity', sa.String(length=16), nullable=False),
        sa.Column('repeat_interval_seconds', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=80), nullable=True),
        sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'))

    op.create_table('deliveries',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('receiver_id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', database.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['receiver_id'], ['receivers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_deliveries_alert_id_receiver_id', 'deliveries', ['alert_id', 'receiver_id'], unique=False)
    op.create_index('ix_deliveries_receiver_id_id', 'deliveries', ['receiver_id', 'id'], unique=False)
    op.create_index('ix_deliveries_status_next_attempt_at', 'deliveries', ['status', 'next_attempt_at'], unique=False)


def _fill_existing_alerts() -> None:
    # Acknowledged was a state before; it is a flag on a firing instance now. Each existing row gets the
    # fingerprint of its labels, or of its id where two rows of one rule share labels (they were separate alerts).
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE alerts SET state = 'firing' WHERE state = 'acknowledged'"))
    connection.execute(sa.text("UPDATE alerts SET state_since = started_at"))
    taken = set()
    for alert_id, rule_id, labels in connection.execute(sa.text("SELECT id, rule_id, labels FROM alerts ORDER BY id")):
        labels = json.loads(labels) if isinstance(labels, str) else labels or {}
        fingerprint = _fingerprint(labels)
        if (rule_id, fingerprint) in taken:
            fingerprint = _fingerprint({"alert_id": str(alert_id)})
        taken.add((rule_id, fingerprint))
        connection.execute(sa.text("UPDATE alerts SET fingerprint = :fingerprint WHERE id = :id"),
                           {"fingerprint": fingerprint, "id": alert_id})


def _fingerprint(labels: dict) -> str:
    text = "\xff".join(f"{name}\xff{labels[name]}" for name in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def downgrade() -> None:
    op.drop_index('ix_deliveries_status_next_attempt_at', table_name='deliveries')
    op.drop_index('ix_deliveries_receiver_id_id', table_name='deliveries')
    op.drop_index('ix_deliveries_alert_id_receiver_id', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_table('receivers')
    op.drop_index(op.f('ix_silences_ends_at'), table_name='silences')
    op.drop_table('silences')
    op.drop_index(op.f('ix_alert_transitions_at'), table_name='alert_transitions')
    op.drop_index('ix_alert_transitions_alert_at', table_name='alert_transitions')
    op.drop_table('alert_transitions')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_alerts_rule_fingerprint', type_='unique')
        for column in reversed(NEW_ALERT_COLUMNS):
            batch_op.drop_column(column)
