"""Endpoints for load balancers and scrapers, kept apart from pages and the admin API."""
import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from blueprints.http import ApiError, runtime
from services.monitoring import prometheus

bp = Blueprint("probes", __name__)


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
    body = prometheus.exposition(runtime())
    return Response(body, mimetype="text/plain", content_type="text/plain; version=0.0.4; charset=utf-8")
