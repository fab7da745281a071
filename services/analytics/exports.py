"""CSV exports streamed row by row from the database, so a million rows never sit in memory."""
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert, MetricPoint, Transaction, UserActivity
from services.ingest.event_schema import amount_text

CHUNK_ROWS = 1000


def transaction_row(row: Transaction) -> list:
    return [row.external_id, row.occurred_at.isoformat(), amount_text(row.amount_e4), row.currency, row.status,
            row.user_id, row.updated_at.isoformat(), json.dumps(row.details)]


def activity_row(row: UserActivity) -> list:
    return [row.occurred_at.isoformat(), row.user_id, row.action, row.path or "", row.session_id or "",
            json.dumps(row.details)]


def metric_row(row: MetricPoint) -> list:
    return [row.occurred_at.isoformat(), row.name, repr(row.value), json.dumps(row.tags)]


def alert_row(row: Alert) -> list:
    return [row.id, row.rule_id or "", row.state, row.severity, row.started_at.isoformat(),
            row.resolved_at.isoformat() if row.resolved_at else "", row.value if row.value is not None else "",
            row.acknowledged_by or "", row.message]


DATASETS = {
    "transactions": (Transaction, Transaction.occurred_at, transaction_row,
                     ["id", "timestamp", "amount", "currency", "status", "user_id", "updated_at", "metadata"]),
    "activity": (UserActivity, UserActivity.occurred_at, activity_row,
                 ["timestamp", "user_id", "action", "path", "session_id", "metadata"]),
    "metrics": (MetricPoint, MetricPoint.occurred_at, metric_row, ["timestamp", "name", "value", "tags"]),
    "alerts": (Alert, Alert.started_at, alert_row,
               ["id", "rule_id", "state", "severity", "started_at", "resolved_at", "value", "acknowledged_by",
                "message"]),
}


def csv_lines(session: Session, dataset: str, start: datetime, end: datetime) -> Iterator[str]:
    """Yield the CSV header, then chunks of rows in time order, fetched in batches as they are sent."""
    model, time_column, to_row, header = DATASETS[dataset]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    query = (select(model).where(time_column >= start, time_column < end).order_by(time_column, model.id)
             .execution_options(yield_per=CHUNK_ROWS))
    for count, row in enumerate(session.scalars(query), start=1):
        writer.writerow(to_row(row))
        if count % CHUNK_ROWS == 0:
            yield drain(buffer)
    yield drain(buffer)


def drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
