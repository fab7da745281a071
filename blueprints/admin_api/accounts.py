"""Users and API keys: thin views over services.accounts, every change audited."""
from flask import current_app, jsonify
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, get_or_404, json_body, runtime
from database import ApiKey, User
from extensions import db
from services.accounts import api_keys, users

USER_CHANGES = {"role": str, "password": str, "active": bool}


def audited(action: str, target: str, details: dict | None = None) -> None:
    record_event(action, target, details)
    runtime().cache.invalidate("accounts")  # a changed role or a disabled user takes effect at once


def account_change(apply):
    """Run `apply()`, turning an AccountError into a 422 that names the field.

    The service looks a name up before it inserts it, but the unique constraint has the last word: a name taken
    in between (or one the database's lower() compares differently) is a 409, not a driver error.
    """
    try:
        return apply()
    except users.AccountError as error:
        db.session.rollback()
        raise ApiError(422, str(error), {"field": error.field}) from None
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "username already exists", {"field": "username"}) from None


@bp.get("/users")
def list_users():
    return jsonify(users=[users.user_as_dict(user) for user in users.list_users(db.session)])


@bp.post("/users")
def create_user():
    body = json_body()
    user = account_change(lambda: users.create_user(
        db.session, body.field("username", str, ""), body.field("password", str, ""),
        body.field("role", str, "viewer"), current_app.config["PASSWORD_HASH_METHOD"]))
    audited("user.create", user.username, {"role": user.role})
    return jsonify(users.user_as_dict(user)), 201


@bp.patch("/users/<int:user_id>")
def update_user(user_id: int):
    user = get_or_404(db.session, User, user_id)
    body = json_body()
    changes = {name: value for name, kind in USER_CHANGES.items() if (value := body.field(name, kind)) is not None}
    if not changes:
        raise ApiError(422, "nothing to change: send role, password or active")
    account_change(lambda: users.update_user(db.session, user, changes,
                                                current_app.config["PASSWORD_HASH_METHOD"]))
    audited("user.update", user.username, {key: value for key, value in changes.items() if key != "password"}
            | ({"password": "changed"} if "password" in changes else {}))
    return jsonify(users.user_as_dict(user))


@bp.delete("/users/<int:user_id>")
def delete_user(user_id: int):
    user = get_or_404(db.session, User, user_id)
    username = user.username
    account_change(lambda: users.delete_user(db.session, user))
    audited("user.delete", username)
    return "", 204


@bp.get("/api-keys")
def list_api_keys():
    return jsonify(api_keys=[api_keys.api_key_as_dict(key) for key in api_keys.list_api_keys(db.session)])


@bp.post("/api-keys")
def create_api_key():
    name = json_body().field("name", str, "")
    issued = account_change(lambda: api_keys.issue_api_key(db.session, name, current_user))
    audited("api_key.create", issued.record.name, {"id": issued.record.id, "prefix": issued.record.prefix})
    return jsonify(id=issued.record.id, name=issued.record.name, key=issued.key, prefix=issued.record.prefix), 201


@bp.delete("/api-keys/<int:key_id>")
def revoke_api_key(key_id: int):
    record = get_or_404(db.session, ApiKey, key_id)
    api_keys.revoke_api_key(db.session, record)
    audited("api_key.revoke", record.name, {"id": record.id, "prefix": record.prefix})
    return "", 204
