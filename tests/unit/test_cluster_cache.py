"""Cache clears, invalidations and preloads reach the other processes over a real Redis's pub/sub."""
import threading
import time
import uuid

import pytest

from services.cache.cache_manager import DEFAULT_NAMESPACES, CacheManager
from services.cluster.connection import connect
from services.cluster.shared_cache import SharedCache
from tests.servers import REDIS_URL
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def members(redis):
    """Start a process's shared cache (its cache, and how often it preloaded) listening in a thread; all stop after."""
    cluster, started = f"test-cache-{uuid.uuid4().hex[:8]}", []

    def start(url: str = REDIS_URL) -> tuple[SharedCache, list]:
        preloads = []
        shared = SharedCache(CacheManager(DEFAULT_NAMESPACES), connect(url, timeout=0.5), cluster,
                             f"host:{len(started)}", lambda: preloads.append(True))
        thread = threading.Thread(target=shared.listen, args=(time.sleep,), daemon=True)
        thread.start()
        started.append((shared, thread))
        return shared, preloads

    yield start
    for shared, thread in started:
        shared.stopped.set()
        thread.join(timeout=5)
        shared.redis.close()


def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)


def listening(redis, shared: SharedCache, count: int) -> None:
    """Pub/sub keeps nothing for a subscriber that is not there yet: wait until every listener is."""
    eventually(lambda: dict(redis.pubsub_numsub(shared.channel))[shared.channel.encode()] >= count)


def test_a_clear_and_a_preload_reach_the_other_process(redis, members):
    (first, _), (second, preloads) = members(), members()
    listening(redis, first, 2)
    second.cache.set("revenue", "key", 1)
    second.cache.set("analytics", "key", 2)
    first.cache.clear("revenue")
    eventually(lambda: second.cache.stats()["namespaces"]["revenue"]["size"] == 0)
    assert second.cache.get("analytics", "key") == 2
    first.cache.preload({})
    eventually(lambda: preloads == [True])


def test_ingest_invalidations_are_gathered_and_keep_the_last_good_value(redis, members):
    (first, _), (second, _) = members(), members()
    listening(redis, first, 2)
    # revenue lives 300 s, so only the message can drop its entry; the second round checks a later gathering.
    for value in ("old", "newer"):
        second.cache.set("revenue", "summary", value)
        for _ in range(50):
            first.cache.invalidate_for_ingest(["transactions"])
        eventually(lambda: second.cache.get("revenue", "summary") is None)
        assert second.cache.last_good("revenue", "summary") == (True, value)


def test_the_listener_comes_back_after_redis_does(redis, members):
    with TcpProxy(("127.0.0.1", redis.connection_pool.connection_kwargs["port"])) as proxy:
        (first, _), (second, _) = members(), members(f"redis://127.0.0.1:{proxy.port}/0")
        listening(redis, first, 2)
        proxy.cut()
        eventually(lambda: dict(redis.pubsub_numsub(first.channel))[first.channel.encode()] == 1)
        proxy.restore()
        listening(redis, first, 2)
        second.cache.set("revenue", "key", 1)
        first.cache.clear("revenue")
        eventually(lambda: second.cache.stats()["namespaces"]["revenue"]["size"] == 0)
