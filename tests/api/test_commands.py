"""The `flask --app app` commands, run through Flask's CLI runner against the test database."""
from extensions import db
from services.accounts import api_keys, users


def test_users_create_with_role(runner, app):
    result = runner.invoke(args=["users", "create", "frank", "--role", "viewer", "--password", "frank-pass-1"])
    assert result.exit_code == 0, result.output
    assert "created viewer frank" in result.output
    with app.app_context():
        assert users.authenticate(db.session, "frank", "frank-pass-1").role == "viewer"


def test_users_create_refuses_a_short_password(runner):
    result = runner.invoke(args=["users", "create", "frank", "--password", "short"])
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output


def test_users_list(runner):
    result = runner.invoke(args=["users", "list"])
    assert "admin\tadmin\tactive" in result.output


def test_api_keys_create_prints_a_working_key(runner, app):
    result = runner.invoke(args=["api-keys", "create", "billing"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    with app.app_context():
        assert api_keys.find_active_api_key(db.session, key).name == "billing"


def test_users_set_password(runner, app):
    result = runner.invoke(args=["users", "set-password", "admin", "--password", "brand-new-pass"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert users.authenticate(db.session, "admin", "brand-new-pass")
    assert runner.invoke(args=["users", "set-password", "ghost", "--password", "brand-new-pass"]).exit_code != 0
