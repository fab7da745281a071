"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from database import Base, create_database_engine
from services.runtime import migrations


def schema_drift(url: str) -> list:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'fresh.db'}"
    return request.getfixturevalue("postgres_url")


def test_upgrade_to_head_matches_the_models(empty_database):
    migrations.upgrade(empty_database)
    assert schema_drift(empty_database) == []


def test_upgrade_is_idempotent(empty_database):
    migrations.upgrade(empty_database)
    migrations.upgrade(empty_database)
    engine = create_database_engine(empty_database)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
