"""POST /api/v1/annotations: other systems (a CI pipeline, an incident tool) mark the time charts."""
from flask import g, jsonify

from blueprints.http import ApiError, json_body, publish
from blueprints.ingest import bp
from blueprints.ingest.views import api_key_identity, ingest_limit
from database import utcnow
from extensions import db, limiter
from services.alerts.body_fields import FieldError
from services.analytics import annotations


@bp.post("/annotations")
@limiter.limit(ingest_limit, key_func=api_key_identity)
def create_annotation():
    try:
        fields = annotations.read_fields(json_body().payload, utcnow())
    except FieldError as error:
        raise ApiError(422, str(error), {"field": error.field}) from None
    annotation = annotations.create(db.session, fields, g.api_key_name)
    body = annotations.as_dict(annotation)
    db.session.commit()
    publish("annotation", [body])
    return jsonify(annotation=body), 201
