from flask import render_template
from flask_login import login_required

from blueprints.admin import bp
from blueprints.permissions import admin_required
from services.dashboard.reads import FIRST_PAGE_VIEW


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template("admin/dashboard.html", first_view=FIRST_PAGE_VIEW)


@bp.get("/accounts")
@login_required
@admin_required
def accounts():
    return render_template("admin/accounts.html")
