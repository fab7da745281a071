"""Annotations for the time charts: listed by range and tag, deleted by admins (audited). Posted at /api/v1/annotations."""
from datetime import timedelta

from flask import jsonify

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import bounded_int, get_or_404, publish, text_arg, time_arg
from database import Annotation, utcnow
from extensions import db
from services.analytics import annotations

DEFAULT_RANGE = timedelta(hours=24)


@bp.get("/annotations")
def list_annotations():
    """A start after the end is an empty range, not an error: each bound alone may be anywhere in the calendar."""
    end = time_arg("end") or utcnow()
    start = time_arg("start") or end - DEFAULT_RANGE
    items = annotations.between(db.session, start, end, text_arg("tag", annotations.MAX_TAG),
                                bounded_int("limit", 100, maximum=500))
    return jsonify(annotations=[annotations.as_dict(item) for item in items])


@bp.delete("/annotations/<int:annotation_id>")
def delete_annotation(annotation_id: int):
    annotation = get_or_404(db.session, Annotation, annotation_id)
    db.session.delete(annotation)
    record_event("annotation.delete", f"annotation {annotation_id}", {"text": annotation.text[:200]})
    # Charts drop the mark: a push that names the annotation and says it is gone.
    publish("annotation", [{"id": annotation_id, "deleted": True}])
    return "", 204
