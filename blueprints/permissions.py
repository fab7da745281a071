"""Who may do what: login first, then role, in one place for pages, the JSON API and sockets."""
from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from blueprints.http import ApiError, wants_json
from extensions import csrf, login_manager

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The only /admin/api writes a viewer may make: their own explorer pins (each view keeps to the caller's pins).
OWN_WRITES = frozenset({"admin_api.create_pin", "admin_api.delete_pin"})


@login_manager.unauthorized_handler
def refuse_anonymous():
    """Scripts get 401 JSON; browsers are sent to the login form with a way back."""
    if wants_json():
        raise ApiError(401, "log in first (session cookie required)")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def guard_admin_api():
    """Before every /admin/api call: a session (401), the CSRF token on writes (400), the admin role on writes (403)
    but for OWN_WRITES."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if request.method in SAFE_METHODS:
        return None
    csrf.protect()
    if not current_user.is_admin and request.endpoint not in OWN_WRITES:
        raise ApiError(403, "admin role required for this action")
    return None


def admin_required(view):
    """For pages and socket events that change state; put it under @login_required."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapper
