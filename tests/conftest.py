"""Fixtures: app, client, runner and auth (in-process), and real server processes on free ports."""
import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app_factory import create_app
from config import TestConfig
from database import Base, create_database_engine
from extensions import db
from services.accounts import api_keys, users

ADMIN = ("admin", "admin-test-password")
VIEWER = ("viewer", "viewer-test-password")


API_TESTS = Path(__file__).resolve().parent / "api"


def pytest_generate_tests(metafunc):
    """Every API test that builds the app runs on SQLite and again on PostgreSQL, which refuses what SQLite lets by."""
    if "database_kind" in metafunc.fixturenames and API_TESTS in Path(metafunc.definition.path).parents:
        metafunc.parametrize("database_kind", ["sqlite", "postgresql"])


@pytest.fixture
def database_kind():
    """The database the `app` fixture runs on; tests/api get both (pytest_generate_tests), the rest SQLite."""
    return "sqlite"


@pytest.fixture
def app_settings():
    """Settings the `app` fixture's app gets beyond TestConfig: a module overrides this fixture to change some."""
    return {}


@pytest.fixture
def app(request, database_kind, app_settings):
    if database_kind == "sqlite":
        yield from app_on("sqlite://", Base.metadata.drop_all, app_settings)
    else:
        yield from app_on(request.getfixturevalue("api_postgres_url"), empty_tables, app_settings)


def app_on(url: str, clean_up, settings: dict):
    """A test app on `url` with the schema, an admin and a viewer; `clean_up(engine)` undoes the test's rows."""
    app = create_app(type("DatabaseConfig", (TestConfig,), {"DATABASE_URL": url} | settings))
    # Kept here: a test that creates another app re-points the module-level `db` at that app's engine.
    engine = db.engine
    with app.app_context():
        Base.metadata.create_all(engine)
        users.create_user(db.session, *ADMIN, "admin", TestConfig.PASSWORD_HASH_METHOD)
        users.create_user(db.session, *VIEWER, "viewer", TestConfig.PASSWORD_HASH_METHOD)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
    clean_up(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def api_postgres_url():
    """One PostgreSQL database for the whole API suite; each test empties it after itself."""
    with fresh_postgres_database("pulseboard_api") as url:
        engine = create_database_engine(url)
        with engine.begin() as connection:
            # A throwaway database: a commit need not wait for the disk, and the suite's hundreds of commits add up.
            connection.execute(text(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET synchronous_commit = off'))
        engine.dispose()
        yield url


def empty_tables(engine) -> None:
    """Every row gone and every id counter back at 1: row deletes in small tables are far faster than TRUNCATE."""
    with engine.begin() as connection:
        # A connection a test left in a transaction then fails this test rather than hanging the run.
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))


@pytest.fixture
def db_session():
    """A session on a fresh in-memory database, with no app: for testing services alone."""
    engine = create_database_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_session(request, tmp_path):
    """A session with no app on a fresh database of each kind in turn: a file SQLite, then PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'any.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_database_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


class AuthActions:
    """Log in through the real form, and call the JSON API with the CSRF header a page would send."""

    def __init__(self, client):
        self.client = client

    def login(self, username=ADMIN[0], password=ADMIN[1], next_url=None):
        token = csrf_token_in(self.client.get("/login").text)
        path = "/login" + (f"?next={next_url}" if next_url else "")
        return self.client.post(path, data={"username": username, "password": password, "csrf_token": token})

    def login_viewer(self):
        return self.login(*VIEWER)

    def logout(self):
        token = csrf_token_in(self.client.get("/admin/dashboard").text)
        return self.client.post("/logout", data={"csrf_token": token})

    def csrf_headers(self) -> dict:
        return {"X-CSRFToken": csrf_token_in(self.client.get("/admin/dashboard").text)}

    def call(self, method: str, path: str, **kwargs):
        headers = self.csrf_headers() | kwargs.pop("headers", {})
        return self.client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def api_key(app):
    with app.app_context():
        key = api_keys.issue_api_key(db.session, "test-sender").key
        db.session.commit()
    return key


@pytest.fixture
def send(client, api_key):
    """POST a batch to the ingest API with a valid key; returns the response."""
    def post(payload, key=api_key, **kwargs):
        return client.post("/api/v1/events", json=payload, headers={"Authorization": f"Bearer {key}"}, **kwargs)
    return post


@pytest.fixture
def admin(auth):
    """The test client, logged in as admin."""
    auth.login()
    return auth


pytest_plugins = ["tests.servers"]

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def service_missing(what: str, error: Exception):
    """Skip where the service is absent; fail under .ci/run, which promises the scale-out path was tested."""
    message = f"{what} is not reachable ({error.__class__.__name__}: {error})"
    if os.environ.get("PULSEBOARD_REQUIRE_SERVICES") == "1":
        pytest.fail(message + "; PULSEBOARD_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(message)


@contextmanager
def fresh_postgres_database(prefix: str = "pulseboard_test"):
    """The URL of a new, empty PostgreSQL database, dropped afterwards (with whatever still holds it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        service_missing("PostgreSQL at " + POSTGRES_ADMIN_URL, error)
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


def last_audit(client, action: str) -> dict:
    """The newest audit entry of `action`, as the API lists it."""
    return client.get(f"/admin/api/audit?action={action}").json["entries"][0]
