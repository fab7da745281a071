"""The server's PostgreSQL connections: a slow statement is ended by the server, a silent server by the client."""
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from database import create_database_engine
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def proxied(postgres_url):
    """(engine with a 0.5 s timeout reaching PostgreSQL through a proxy, the proxy)."""
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        engine = create_database_engine(postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), timeout=0.5)
        yield engine, proxy
        engine.dispose()


def test_a_slow_statement_is_cancelled_and_its_connection_kept(proxied):
    engine, _ = proxied
    with engine.connect() as connection:
        with pytest.raises(OperationalError, match="statement timeout"):
            connection.execute(text("SELECT pg_sleep(3)"))
        connection.rollback()
        assert not connection.invalidated
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_a_silent_database_is_given_up_on_and_its_connection_dropped(proxied):
    engine, proxy = proxied
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        proxy.blackhole()
        started = time.monotonic()
        with pytest.raises(OperationalError, match="did not answer within 1.5 s"):
            connection.execute(text("SELECT 1"))
        assert 1.5 <= time.monotonic() - started < 3
        assert connection.invalidated
    proxy.restore()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_tools_wait_without_a_deadline(postgres_url):
    engine = create_database_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_sleep(0.6), 1")).one()[1] == 1
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    engine.dispose()
