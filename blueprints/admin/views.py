from flask import render_template
from flask_login import login_required

from blueprints.admin import bp
from blueprints.permissions import admin_required
from services.alerts import alerts as alert_instances
from services.alerts import notifications as notification_levels
from services.alerts import receivers, rules, series
from services.dashboard.reads import FIRST_PAGE_VIEW


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template("admin/dashboard.html", first_view=FIRST_PAGE_VIEW)


@bp.get("/alerts")
@login_required
def alerts():
    """Every signed-in user reads alerts; the page disables its write controls for viewers."""
    return render_template("admin/alerts.html", options=alert_form_options())


def alert_form_options() -> dict:
    """The choices the alerts page offers, from the tables the API validates against (never a second list)."""
    sources = {name: {"metrics": source.metrics, "aggregations": source.aggregations, "labels": source.labels}
               for name, source in series.SOURCES.items()}
    return {"sources": sources, "aggregations": rules.FIELDS["aggregation"].options, "comparators": rules.COMPARATORS,
            "severities": rules.SEVERITIES, "nodata_states": rules.NODATA_STATES, "error_states": rules.ERROR_STATES,
            "defaults": rules.DEFAULTS, "states": alert_instances.STATES, "formats": receivers.FORMATS}


@bp.get("/explorer")
@login_required
def explorer():
    """Every signed-in user explores metrics; the view is in the query string, which the page's script reads."""
    return render_template("admin/explorer.html")


@bp.get("/accounts")
@login_required
@admin_required
def accounts():
    return render_template("admin/accounts.html")


@bp.get("/api/docs")
@login_required
def api_docs():
    """The OpenAPI document rendered by Swagger UI: a page, not an operation, though it lives beside the API it shows
    (so, like every /admin/api path, an anonymous caller gets a 401 rather than the login form)."""
    return render_template("admin/api_docs.html")


@bp.get("/notifications")
@login_required
def notifications():
    """Everyone signed in reads notifications; the page disables its send form for viewers."""
    return render_template("admin/notifications.html", levels=notification_levels.LEVELS)
