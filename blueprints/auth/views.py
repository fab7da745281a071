from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from blueprints.audit_trail import record_event
from blueprints.auth import bp
from blueprints.auth.forms import LoginForm, LogoutForm
from blueprints.http import storable
from extensions import db, limiter
from services.accounts import users


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def submitted_username() -> str:
    return "login-user:" + request.form.get("username", "").strip().lower()


def failed_login(_response) -> bool:
    return g.get("login_failed", False)


def refuse_login(form: LoginForm):
    """Re-show the form with one message for every failure, and count it against the rate limits."""
    g.login_failed = True
    flash("Invalid username or password.", "error")
    return render_template("auth/login.html", form=form)


def safe_next(target: str | None) -> str:
    """Follow `next` only to a path on this site: no scheme, no host, no protocol-relative //."""
    if not target:
        return url_for("admin.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("admin.dashboard")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=failed_login)
@limiter.limit(login_limit, methods=["POST"], key_func=submitted_username, deduct_when=failed_login)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate():
        if "csrf_token" in form.errors:
            flash("The form expired; please try again.", "error")
            return render_template("auth/login.html", form=form), 400
        return refuse_login(form)
    username = form.username.data
    # No account name holds a NUL, and PostgreSQL refuses to even compare one: such a name simply fails.
    user = users.authenticate(db.session, username, form.password.data) if storable(username) else None
    if user is None:
        record_event("login.failed", actor=username.replace("\x00", "\ufffd")[:80])
        return refuse_login(form)
    login_user(user, remember=form.remember.data)
    record_event("login")
    return redirect(safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return render_template("error.html", status=400, message="Missing or invalid CSRF token."), 400
    if current_user.is_authenticated:
        record_event("logout")
        logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/")
def index():
    return redirect(url_for("admin.dashboard"))
