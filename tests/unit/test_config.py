import importlib
import re

import pytest

import config


@pytest.fixture
def fresh_config(monkeypatch, tmp_path):
    """Reload config with a clean environment, so each test sees only the variables it sets."""
    for name in ("HOST", "PORT", "SECRET_KEY", "DATABASE_URL", "DEMO", "LIVE_UPDATE_INTERVAL",
                 "SOCKETIO_ASYNC_MODE", "SOCKETIO_MESSAGE_QUEUE", "ADMIN_PASSWORD", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)

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


def test_generated_secret_key_is_kept_across_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.persistent_secret_key(tmp_path)
    assert len(first) == 64
    assert config.persistent_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_configured_secret_key_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert config.persistent_secret_key(tmp_path) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


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
