"""Endpoints for load balancers and scrapers, kept apart from pages and the admin API."""
from flask import Blueprint, jsonify

bp = Blueprint("probes", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")
