from flask import Blueprint

bp = Blueprint("admin", __name__)

from blueprints.admin import views  # noqa: E402,F401  (routes attach themselves to bp)
