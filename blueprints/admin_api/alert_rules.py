"""Alert rules (SPEC §9): thin views over services.alerts.rules, admin-only writes, every change audited."""
from flask import jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, get_or_404, json_body, publish, runtime
from database import AlertRule, utcnow
from extensions import db
from services.alerts import evaluator, preview, rules, series
from services.alerts.body_fields import FieldError


def rule_change(apply):
    """Run `apply()`, turning a FieldError into a 422 that names the field."""
    try:
        return apply()
    except FieldError as error:
        db.session.rollback()
        raise ApiError(422, str(error), {"field": error.field}) from None


def rule_body() -> dict:
    # The validator reads the parsed object itself: a rule has numbers (JsonBody.field types none) and fields
    # a PATCH clears with null (which JsonBody.field reads as absent).
    return json_body().payload


@bp.get("/alert-rules")
def list_alert_rules():
    return jsonify(rules=[rules.as_dict(rule) for rule in rules.list_rules(db.session)])


@bp.post("/alert-rules")
def create_alert_rule():
    fields = rule_change(lambda: rules.read_fields(rule_body(), partial=False))
    rule = rule_change(lambda: rules.create_rule(db.session, fields, current_user.username))
    saved = rules.as_dict(rule)
    record_event("alert_rule.create", f"alert rule {rule.id}", {"name": rule.name, "source": rule.source,
                                                                 "metric": rule.metric})
    return jsonify(rule=saved), 201


@bp.get("/alert-rules/<int:rule_id>")
def get_alert_rule(rule_id: int):
    return jsonify(rule=rules.as_dict(get_or_404(db.session, AlertRule, rule_id)))


@bp.patch("/alert-rules/<int:rule_id>")
def update_alert_rule(rule_id: int):
    changes = rule_change(lambda: rules.read_fields(rule_body(), partial=True))  # a field no rule could take: 422 first
    rule = get_or_404(db.session, AlertRule, rule_id)
    condition = rule_change(lambda: rules.update_rule(db.session, rule, changes))
    saved = rules.as_dict(rule)
    # `condition`: the fields that changed what the rule measures, so its instances must start afresh.
    ended = end_episodes(rule_id, "rule condition changed" if condition else "rule disabled",
                         bool(condition) or not rule.enabled)
    record_event("alert_rule.update", f"alert rule {rule_id}", {"fields": sorted(changes), "condition": condition})
    if ended:
        publish("alert", ended)
    return jsonify(rule=saved)


def end_episodes(rule_id: int, reason: str, needed: bool = True) -> list[dict]:
    """Resolve the rule's open instances at once (the next evaluation sends the resolved notifications they
    are owed); returns their pushes, to publish after the commit."""
    if not needed:
        return []
    return evaluator.alert_pushes(evaluator.reset_rule(db.session, rule_id, utcnow(), reason))


@bp.post("/alert-rules/preview")
def preview_unsaved_alert_rule():
    """A rule body evaluated now, before it is saved: what it would say, with nothing stored or sent."""
    fields = rule_change(lambda: rules.read_fields(rule_body(), partial=False))
    rule_change(lambda: rules.check_together(fields))
    return jsonify(previewed(fields))


@bp.post("/alert-rules/<int:rule_id>/preview")
def preview_alert_rule(rule_id: int):
    rule = rules.as_dict(get_or_404(db.session, AlertRule, rule_id))
    return jsonify(previewed(rule) | {"rule_id": rule_id})


def previewed(rule: dict) -> dict:
    now = utcnow()
    try:
        instances = preview.preview(db.session, runtime(), rule, now)
    except series.SeriesError as error:  # a rule saved before its source's series changed
        raise ApiError(422, error.reason, {"field": error.field}) from None
    return {"evaluated_at": now.isoformat(), "instances": instances}


@bp.delete("/alert-rules/<int:rule_id>")
def delete_alert_rule(rule_id: int):
    rule = get_or_404(db.session, AlertRule, rule_id)
    name = rule.name
    ended = end_episodes(rule_id, "rule deleted")
    db.session.delete(rule)
    record_event("alert_rule.delete", f"alert rule {rule_id}", {"name": name})
    if ended:
        publish("alert", ended)
    return "", 204
