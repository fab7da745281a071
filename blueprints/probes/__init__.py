"""Endpoints for load balancers and scrapers, kept apart from pages and the admin API."""
import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from blueprints.http import ApiError
from services.monitoring import prometheus

bp = Blueprint("probes", __name__)


@bp.record_once
def register_metrics(state) -> None:
    """One metrics registry per app, over its runtime (built before the blueprints are registered)."""
    state.app.extensions["prometheus"] = prometheus.registry(state.app.extensions["runtime"])


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def scraper_allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(offered, token)


@bp.get("/metrics")
def metrics():
    """Prometheus text format, for an admin session or a scraper holding METRICS_TOKEN."""
    if not (scraper_allowed() or (current_user.is_authenticated and current_user.is_admin)):
        raise ApiError(401, "send Authorization: Bearer <METRICS_TOKEN>, or log in as an admin")
    return Response(generate_latest(current_app.extensions["prometheus"]), content_type=CONTENT_TYPE_LATEST)
