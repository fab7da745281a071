import importlib
import importlib.util
import os
import re
import shutil

import pytest

import app_factory
import config
from config import TestConfig


@pytest.fixture
def fresh_config(monkeypatch, tmp_path):
    """Reload config with a clean environment, so each test sees only the variables it sets."""
    for name in ("HOST", "PORT", "SECRET_KEY", "DATABASE_URL", "DEMO", "LIVE_UPDATE_INTERVAL",
                 "SOCKETIO_ASYNC_MODE", "SOCKETIO_MESSAGE_QUEUE", "ADMIN_PASSWORD", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)

    def load(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config)

    yield load
    monkeypatch.undo()
    importlib.reload(config)


def test_defaults_match_the_spec(fresh_config):
    settings = fresh_config().Config
    assert (settings.HOST, settings.PORT) == ("127.0.0.1", 5000)
    assert settings.DATABASE_URL == f"sqlite:///{config.INSTANCE_DIR / 'pulseboard.db'}"
    assert settings.SOCKETIO_ASYNC_MODE == "eventlet"
    assert settings.SOCKETIO_MESSAGE_QUEUE is None
    assert settings.RATELIMIT_STORAGE_URI == "memory://"
    assert settings.ADMIN_USERNAME == "admin" and settings.ADMIN_PASSWORD is None
    assert settings.DEMO is False
    assert settings.LIVE_UPDATE_INTERVAL == 1.0 and settings.SYSTEM_SAMPLE_INTERVAL == 1.0
    assert settings.SECRET_KEY is None  # resolved by create_app


def test_environment_overrides_defaults(fresh_config):
    settings = fresh_config(HOST="0.0.0.0", PORT="8080", DEMO="1", LIVE_UPDATE_INTERVAL="0.5",
                            SOCKETIO_ASYNC_MODE="threading", SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0").Config
    assert (settings.HOST, settings.PORT, settings.DEMO) == ("0.0.0.0", 8080, True)
    assert settings.LIVE_UPDATE_INTERVAL == 0.5
    assert settings.SOCKETIO_ASYNC_MODE == "threading"
    assert settings.SOCKETIO_MESSAGE_QUEUE == "redis://127.0.0.1:6379/0"


def test_relative_sqlite_path_is_taken_from_the_project_folder(fresh_config):
    settings = fresh_config(DATABASE_URL="sqlite:///instance/other.db").Config
    assert settings.DATABASE_URL == f"sqlite:///{config.BASE_DIR / 'instance' / 'other.db'}"


def test_postgres_url_is_kept_as_given(fresh_config):
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert fresh_config(DATABASE_URL=url).Config.DATABASE_URL == url


def test_importing_config_writes_nothing_and_reads_no_env_file(tmp_path, monkeypatch):
    """A copy of config.py in an empty folder holding a .env: importing it leaves both the folder and the
    environment as they were (the key file comes with create_app, .env with app.py)."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    shutil.copy(config.BASE_DIR / "config.py", tmp_path / "config.py")
    (tmp_path / ".env").write_text("PULSEBOARD_CONFIG_PROBE=from-dotenv\n")
    spec = importlib.util.spec_from_file_location("config_copy", tmp_path / "config.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env", "config.py"]
    assert "PULSEBOARD_CONFIG_PROBE" not in os.environ


def settings(**values) -> type:
    return type("Settings", (TestConfig,), values)


@pytest.fixture
def instance_dir(tmp_path, monkeypatch):
    """create_app's instance folder, empty, instead of the project's."""
    monkeypatch.setattr(app_factory, "INSTANCE_DIR", tmp_path / "instance")
    return tmp_path / "instance"


def test_a_generated_secret_key_is_kept_across_starts(instance_dir):
    first = app_factory.create_app(settings(SECRET_KEY=None)).config["SECRET_KEY"]
    assert len(first) == 64
    assert (instance_dir / "secret_key").stat().st_mode & 0o077 == 0
    assert app_factory.create_app(settings(SECRET_KEY=None)).config["SECRET_KEY"] == first


def test_configured_secret_key_wins(instance_dir):
    assert app_factory.create_app(settings(SECRET_KEY="from-the-environment")).config["SECRET_KEY"] == "from-the-environment"
    assert not instance_dir.exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "panel.example.com"])
def test_a_production_start_without_a_secret_refuses(instance_dir, host):
    with pytest.raises(config.SecretKeyMissing, match=f"HOST={re.escape(host)} serves beyond this machine.*SECRET_KEY"):
        app_factory.create_app(settings(SECRET_KEY=None, HOST=host))
    assert not instance_dir.exists()


def test_a_production_start_uses_the_persisted_key(instance_dir):
    instance_dir.mkdir()
    (instance_dir / "secret_key").write_text("kept-from-an-earlier-start\n")
    assert app_factory.create_app(settings(SECRET_KEY=None, HOST="0.0.0.0")).config["SECRET_KEY"] == "kept-from-an-earlier-start"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.1.1"])
def test_a_local_start_generates_a_key(instance_dir, host):
    assert len(app_factory.create_app(settings(SECRET_KEY=None, HOST=host)).config["SECRET_KEY"]) == 64


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("on", True), ("0", False),
                                           ("no", False), ("", False)])
def test_boolean_settings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert config.env_bool("SOME_FLAG", False) is expected


def test_env_example_documents_every_setting_the_code_reads():
    read_by_code = set(re.findall(r'env_(?:str|int|float|bool)\("([A-Z_]+)"', (config.BASE_DIR / "config.py").read_text()))
    documented = set(re.findall(r"^#? *([A-Z_]+)=", (config.BASE_DIR / ".env.example").read_text(), re.MULTILINE))
    assert {"HOST", "PORT", "SECRET_KEY", "DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE", "RATELIMIT_STORAGE_URI",
            "ADMIN_USERNAME", "ADMIN_PASSWORD", "DEMO", "LIVE_UPDATE_INTERVAL", "SYSTEM_SAMPLE_INTERVAL"} <= read_by_code
    assert read_by_code - documented == set()
