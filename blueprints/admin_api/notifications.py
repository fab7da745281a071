from flask import jsonify, request
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.http import ApiError, bounded_int, json_body, publish
from extensions import db
from services.accounts import audit
from services.alerts import notifications


@bp.get("/notifications")
def list_notifications():
    items = notifications.recent(db.session, bounded_int("limit", 50, maximum=500))
    return jsonify(notifications=[notifications.as_dict(item) for item in items])


@bp.post("/notifications")
def send_notification():
    payload = json_body()
    try:
        item = notifications.create(db.session, payload.get("title"), payload.get("message"),
                                    payload.get("level", "info"), current_user.username)
    except notifications.NotificationError as error:
        db.session.rollback()
        raise ApiError(422, str(error), {"field": error.field}) from None
    audit.record(db.session, current_user.username, "notification.send", item.title, {"id": item.id},
                 request.remote_addr)
    body = notifications.as_dict(item)  # before the commit expires the row, which would cost a re-read
    db.session.commit()
    publish("notification", [body])
    return jsonify(body), 201
