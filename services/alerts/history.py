"""What the alerts keep over time, and how long: transitions, long-resolved instances and finished deliveries
go after ALERT_HISTORY_RETENTION_DAYS."""
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from database import Alert, AlertTransition
from services.alerts import delivery


def purge(session: Session, before: datetime) -> None:
    session.execute(delete(AlertTransition).where(AlertTransition.at < before))
    # An instance resolved that long ago has nothing left to show; a label set that comes back starts anew.
    session.execute(delete(Alert).where(Alert.state == "resolved", Alert.state_since < before))
    delivery.purge(session, before)
