from flask import jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, json_body, publish
from extensions import db
from services.alerts import notifications


@bp.get("/notifications")
def list_notifications():
    items = notifications.recent(db.session, bounded_int("limit", 50, maximum=500))
    return jsonify(notifications=[notifications.as_dict(item) for item in items])


@bp.post("/notifications")
def send_notification():
    body = json_body()
    try:
        item = notifications.create(db.session, body.field("title", str), body.field("message", str),
                                    body.field("level", str, "info"), current_user.username)
    except notifications.NotificationError as error:
        db.session.rollback()
        raise ApiError(422, str(error), {"field": error.field}) from None
    body = notifications.as_dict(item)  # before the commit expires the row, which would cost a re-read
    record_event("notification.send", item.title, {"id": item.id})
    publish("notification", [body])
    return jsonify(body), 201
