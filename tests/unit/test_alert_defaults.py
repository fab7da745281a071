"""The default rules: valid rules, installed once, and a deleted one stays deleted."""
from sqlalchemy import delete, select

from database import AlertRule, AuditEntry
from services.alerts import defaults, rules


def test_the_defaults_are_the_issues_four_and_each_is_a_valid_rule():
    assert [(body["metric"], body["comparator"], body["threshold"], body["for_seconds"])
            for body in defaults.DEFAULT_RULES] == [
        ("cpu", ">", 90, 60), ("error_rate", ">", 0.05, 120), ("p95", ">", 1000, 120), ("failure_rate", ">", 0.2, 300)]
    for body in defaults.DEFAULT_RULES:
        rules.check_together(rules.read_fields(body, partial=False))


def test_they_are_installed_once_and_an_admins_deletion_sticks(db_session):
    assert [rule.name for rule in defaults.install_once(db_session)] == [
        "High CPU", "High error rate", "Slow requests", "Failing transactions"]
    db_session.commit()
    assert db_session.scalars(select(AuditEntry.action)).all() == [defaults.ACTION]
    db_session.execute(delete(AlertRule).where(AlertRule.name == "High CPU"))
    db_session.commit()
    assert defaults.install_once(db_session) == []
    assert len(db_session.scalars(select(AlertRule)).all()) == 3
