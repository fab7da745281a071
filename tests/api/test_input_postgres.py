"""The input rules on PostgreSQL, which refuses what SQLite stores quietly: NUL in text (a driver error, so a
500, had it reached the database) and integers beyond a column's type (INTEGER is 32-bit there)."""
import pytest

from app_factory import create_app
from config import TestConfig
from database import Base
from extensions import db
from services.accounts import users
from tests.api.test_input_classes import (
    INGEST_ITEMS,
    INGEST_TEXT,
    INT_ROUTES,
    TEXT_FIELDS,
    TEXT_PARAMETERS,
    call,
    error_details,
    fill_path,
    read,
)
from tests.conftest import ADMIN, AuthActions, csrf_token_in, fresh_postgres_database


@pytest.fixture(scope="module")
def postgres_app():
    """One app on a fresh PostgreSQL database for the module: its tests send only input that must change nothing."""
    with fresh_postgres_database("pulseboard_input") as url:
        app = create_app(type("PostgresConfig", (TestConfig,), {"DATABASE_URL": url}))
        with app.app_context():
            Base.metadata.create_all(db.engine)
            users.create_user(db.session, *ADMIN, "admin", TestConfig.PASSWORD_HASH_METHOD)
            db.session.commit()
        yield app
        db.engine.dispose()


@pytest.fixture
def pg_admin(postgres_app):
    auth = AuthActions(postgres_app.test_client())
    auth.login()
    return auth


@pytest.fixture
def pg_api_key(postgres_app, pg_admin):
    return call(pg_admin, "POST", "/admin/api/api-keys", {"name": "postgres-input"}).json["key"]


def test_ids_beyond_postgres_integer_are_not_found(pg_admin):
    for rule, method in INT_ROUTES:
        path = rule.rule.split("<")[0] + str(2**31) + rule.rule.split(">", 1)[1]
        assert call(pg_admin, method, path, body={}).status_code == 404, (method, path)


def test_nul_in_query_parameters_never_reaches_postgres(pg_admin):
    for path, method, name in TEXT_PARAMETERS:
        response = read(pg_admin, path, method, name, "a\x00b")
        assert response.status_code == 400 and error_details(response) == {"parameter": name}, (path, name)


def test_nul_in_admin_body_fields_never_reaches_postgres(pg_admin):
    for path, method, name in TEXT_FIELDS:
        response = call(pg_admin, method, fill_path(path), body={name: "a\x00b"})
        assert response.status_code == 400 and error_details(response) == {"field": name}, (path, name)


def test_nul_in_ingest_items_never_reaches_postgres(pg_admin, pg_api_key):
    for kind, field in INGEST_TEXT:
        response = call(pg_admin, "POST", "/api/v1/events", {kind: [INGEST_ITEMS[kind] | {field: "a\x00b"}]},
                        api_key=pg_api_key)
        assert response.status_code == 400 and error_details(response) == {"field": f"{kind}[0].{field}"}


def test_a_login_form_holding_nul_is_a_failed_login(postgres_app):
    client = postgres_app.test_client()
    token = csrf_token_in(client.get("/login").text)
    response = client.post("/login", data={"username": "ad\x00min", "password": "x\x00", "csrf_token": token})
    assert response.status_code == 200 and "Invalid username or password." in response.text
