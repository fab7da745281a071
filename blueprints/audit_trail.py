"""One way for a view to audit what it did: the entry is written and committed with the change it describes."""
from flask import request
from flask_login import current_user

from extensions import db
from services.accounts import audit


def record_event(action: str, target: str | None = None, details: dict | None = None, actor: str | None = None) -> None:
    """Audit `action` by `actor` (the logged-in user unless named, e.g. a failed login) and commit."""
    audit.record(db.session, actor or current_user.username, action, target, details, request.remote_addr)
    db.session.commit()
