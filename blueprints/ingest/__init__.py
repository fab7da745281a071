"""The ingest API (SPEC §6): other applications push events here with an API key."""
from flask import Blueprint

bp = Blueprint("ingest", __name__)

from blueprints.ingest import annotations, views  # noqa: E402,F401  (routes attach themselves to bp)
