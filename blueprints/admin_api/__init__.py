from flask import Blueprint

from blueprints.permissions import guard_admin_api

bp = Blueprint("admin_api", __name__)
bp.before_request(guard_admin_api)

from blueprints.admin_api import (  # noqa: E402,F401  (routes attach themselves to bp)
    accounts,
    alert_rules,
    alerts,
    analytics,
    annotations,
    audit_log,
    explorer,
    exports,
    notifications,
    operations,
    receivers,
    silences,
)
