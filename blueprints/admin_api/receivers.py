"""Webhook receivers and their deliveries (SPEC §9): thin views over services.alerts.receivers and .delivery,
admin-only writes, each audited."""
from flask import current_app, jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, choice_arg, get_or_404, json_body, runtime
from database import Delivery, Receiver, utcnow
from extensions import db
from services.alerts import delivery, receivers
from services.alerts.body_fields import FieldError

# app.extensions key of this process's DeliveryWorker (app_factory.start_background_work); absent in tests and the CLI.
DELIVERY_WORKER = "delivery_worker"


def receiver_change(apply):
    """Run `apply()`: a taken name is a 409, any other bad field a 422, each naming the field."""
    try:
        return apply()
    except receivers.DuplicateName as error:
        db.session.rollback()
        raise ApiError(409, str(error), {"field": error.field}) from None
    except FieldError as error:
        db.session.rollback()
        raise ApiError(422, str(error), {"field": error.field}) from None


def shown(receiver: Receiver, counts: dict | None = None) -> dict:
    """A receiver with its deliveries counted by status (dead letters included, for the UI to offer a retry); its
    URL in full for admins only."""
    counts = receivers.delivery_counts(db.session, receiver.id) if counts is None else counts
    return (receivers.as_dict(receiver, reveal_url=current_user.is_admin)
            | {"deliveries": counts.get(receiver.id, receivers.NO_DELIVERIES)})


@bp.get("/receivers")
def list_receivers():
    counts = receivers.delivery_counts(db.session)
    return jsonify(receivers=[shown(receiver, counts) for receiver in receivers.list_receivers(db.session)])


@bp.post("/receivers")
def create_receiver():
    fields = receiver_change(lambda: receivers.read_fields(json_body().payload, partial=False))
    receiver = receiver_change(lambda: receivers.create(db.session, fields, current_user.username))
    saved = shown(receiver)
    record_event("receiver.create", f"receiver {receiver.id}", {"name": receiver.name, "format": receiver.format})
    return jsonify(receiver=saved), 201


@bp.get("/receivers/<int:receiver_id>")
def get_receiver(receiver_id: int):
    return jsonify(receiver=shown(get_or_404(db.session, Receiver, receiver_id)))


@bp.patch("/receivers/<int:receiver_id>")
def update_receiver(receiver_id: int):
    # The body's own faults first (422), so a field no receiver could take is named even for an unknown id.
    changes = receiver_change(lambda: receivers.read_fields(json_body().payload, partial=True))
    receiver = get_or_404(db.session, Receiver, receiver_id)
    receiver_change(lambda: receivers.update(db.session, receiver, changes))
    saved = shown(receiver)
    record_event("receiver.update", f"receiver {receiver_id}", {"fields": sorted(changes)})
    return jsonify(receiver=saved)


@bp.delete("/receivers/<int:receiver_id>")
def delete_receiver(receiver_id: int):
    """Its deliveries go with it, queued ones included."""
    receiver = get_or_404(db.session, Receiver, receiver_id)
    name = receiver.name
    db.session.delete(receiver)
    record_event("receiver.delete", f"receiver {receiver_id}", {"name": name})
    return "", 204


@bp.post("/receivers/<int:receiver_id>/test")
def test_receiver(receiver_id: int):
    """Send a realistic firing body now, once; the answer says how the endpoint took it."""
    json_body(required=False)  # a body, if any, must still be JSON
    receiver = get_or_404(db.session, Receiver, receiver_id)
    sent = delivery.send_test(db.session, runtime(), receiver, utcnow(), current_app.config)
    body = delivery.as_dict(sent)
    record_event("receiver.test", f"receiver {receiver_id}",
                 {"status": sent.status, "status_code": sent.last_status_code, "error": sent.last_error})
    return jsonify(delivery=body)


@bp.get("/receivers/<int:receiver_id>/deliveries")
def list_deliveries(receiver_id: int):
    # Parameters first, so a bad one is named even for an unknown receiver.
    limit, status = bounded_int("limit", 50, maximum=500), choice_arg("status", receivers.DELIVERY_STATUSES)
    get_or_404(db.session, Receiver, receiver_id)
    found = delivery.recent(db.session, receiver_id, limit, status)
    return jsonify(deliveries=[delivery.as_dict(row) for row in found])


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int):
    """A dead letter back in the queue, due now (409 for any other)."""
    row = get_or_404(db.session, Delivery, delivery_id)
    try:
        delivery.retry(row, utcnow())
    except delivery.DeliveryStateError as error:
        raise ApiError(409, str(error)) from None
    body = delivery.as_dict(row)
    record_event("delivery.retry", f"delivery {delivery_id}", {"receiver_id": row.receiver_id, "kind": row.kind})
    worker = current_app.extensions.get(DELIVERY_WORKER)
    if worker is not None:
        worker.wake()
    return jsonify(delivery=body)
