import pytest

from database import ApiKey
from services.accounts import api_keys, users

FAST = "pbkdf2:sha256:1000"


def create(session, username="alice", password="correct horse", role="viewer"):
    return users.create_user(session, username, password, role, FAST)


@pytest.mark.parametrize("username, password, role, field", [
    ("", "long enough", "viewer", "username"),
    ("x" * 81, "long enough", "viewer", "username"),
    ("bob", "short", "viewer", "password"),
    ("bob", "long enough", "owner", "role"),
])
def test_invalid_user_fields_are_refused(db_session, username, password, role, field):
    with pytest.raises(users.AccountError) as caught:
        users.create_user(db_session, username, password, role, FAST)
    assert caught.value.field == field


def test_usernames_are_unique_ignoring_case(db_session):
    create(db_session, "Alice")
    with pytest.raises(users.AccountError, match="already exists"):
        create(db_session, "alice")


def test_passwords_are_stored_hashed(db_session):
    user = create(db_session)
    assert "correct horse" not in user.password_hash
    assert user.password_hash.startswith("pbkdf2:sha256")


def test_authenticate_accepts_the_right_password_only(db_session):
    user = create(db_session)
    assert users.authenticate(db_session, "alice", "correct horse") is user
    assert user.last_login_at is not None
    assert users.authenticate(db_session, "alice", "wrong password") is None
    assert users.authenticate(db_session, "nobody", "correct horse") is None


def test_disabled_users_cannot_log_in(db_session):
    create(db_session, role="admin")
    user = create(db_session, "bob")
    users.update_user(db_session, user, {"active": False}, FAST)
    assert users.authenticate(db_session, "bob", "correct horse") is None


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(db_session):
    admin = create(db_session, role="admin")
    for change in ({"role": "viewer"}, {"active": False}):
        with pytest.raises(users.AccountError, match="last active admin"):
            users.update_user(db_session, admin, change, FAST)
    with pytest.raises(users.AccountError, match="last active admin"):
        users.delete_user(db_session, admin)
    create(db_session, "second", role="admin")
    users.update_user(db_session, admin, {"role": "viewer"}, FAST)
    assert admin.role == "viewer"


def test_ensure_admin_generates_a_password_once(db_session):
    password = users.ensure_admin(db_session, "admin", None, FAST)
    assert password and len(password) >= 12
    assert users.authenticate(db_session, "admin", password).is_admin
    assert users.ensure_admin(db_session, "admin", None, FAST) is None


def test_ensure_admin_uses_the_configured_password(db_session):
    assert users.ensure_admin(db_session, "root", "configured-pass", FAST) == "configured-pass"
    assert users.authenticate(db_session, "root", "configured-pass").is_admin


def test_api_keys_are_stored_hashed_and_found_by_key(db_session):
    issued = api_keys.issue_api_key(db_session, "billing")
    assert issued.key.startswith(api_keys.API_KEY_PREFIX) and len(issued.key) > 40
    stored = db_session.get(ApiKey, issued.record.id)
    assert issued.key not in (stored.key_hash, stored.prefix)
    assert issued.key.startswith(stored.prefix)
    assert api_keys.find_active_api_key(db_session, issued.key) is stored
    assert api_keys.find_active_api_key(db_session, issued.key + "x") is None


def test_revoked_keys_stop_working(db_session):
    issued = api_keys.issue_api_key(db_session, "billing")
    api_keys.revoke_api_key(db_session, issued.record)
    assert api_keys.find_active_api_key(db_session, issued.key) is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_api_keys_need_a_name(db_session, name):
    with pytest.raises(users.AccountError):
        api_keys.issue_api_key(db_session, name)
