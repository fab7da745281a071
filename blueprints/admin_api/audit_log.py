from flask import jsonify

from blueprints.admin_api import bp
from blueprints.http import bounded_int, text_arg
from extensions import db
from services.accounts import audit


@bp.get("/audit")
def audit_entries():
    entries = audit.recent(db.session, bounded_int("limit", 100), text_arg("action", 64))
    return jsonify(entries=[audit.as_dict(entry) for entry in entries])
