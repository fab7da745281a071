"""Alert history retention: old transitions, long-resolved instances and finished deliveries go; the rest stays."""
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from database import Alert, AlertTransition, Delivery, Receiver
from services.alerts import history

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=91), NOW - timedelta(days=1)


def test_purge_keeps_what_is_recent_or_still_open(db_session):
    receiver = Receiver(name="ops", url="http://127.0.0.1:9/", format="slack", send_resolved=True, min_severity="info")
    old_resolved = Alert(fingerprint="a", state="resolved", severity="warning", started_at=OLD, state_since=OLD)
    old_firing = Alert(fingerprint="b", state="firing", severity="warning", started_at=OLD, state_since=OLD)
    recent_resolved = Alert(fingerprint="c", state="resolved", severity="warning", started_at=RECENT, state_since=RECENT)
    db_session.add_all([receiver, old_resolved, old_firing, recent_resolved])
    db_session.flush()
    db_session.add_all([AlertTransition(alert_id=old_firing.id, at=at, from_state="normal", to_state="firing")
                        for at in (OLD, RECENT)])
    db_session.add_all([Delivery(receiver_id=receiver.id, kind="firing", status=status, created_at=at, payload={})
                        for status, at in (("delivered", OLD), ("dead", OLD), ("pending", OLD), ("delivered", RECENT))])
    db_session.commit()
    history.purge(db_session, NOW - timedelta(days=90))
    db_session.commit()
    assert sorted(db_session.scalars(select(Alert.fingerprint))) == ["b", "c"]
    assert db_session.scalars(select(AlertTransition.at)).all() == [RECENT]
    assert sorted(db_session.execute(select(Delivery.status, Delivery.created_at)).all()) == [
        ("delivered", RECENT), ("pending", OLD)]
