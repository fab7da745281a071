import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.cache.cache_manager import DEFAULT_NAMESPACES, CacheManager, NamespaceConfig, UnknownNamespace
from tests.fakes import FakeClock


class Recorder:
    """A compute function that counts its calls and returns a fixed value."""

    def __init__(self, value="computed") -> None:
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.value


def never():
    raise AssertionError("compute should not have been called")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cache(clock):
    return CacheManager(DEFAULT_NAMESPACES, clock=clock)


def run_together(threads: int, work):
    """Run work() in that many real threads released at the same moment; return the outcomes in order."""
    start = threading.Barrier(threads)

    def outcome():
        start.wait()
        try:
            return work()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(outcome) for _ in range(threads)]
        return [future.result(timeout=10) for future in futures]


def test_default_namespaces_have_documented_ttls():
    ttls = {name: config.ttl for name, config in DEFAULT_NAMESPACES.items()}
    assert ttls == {"live": 1, "revenue": 300, "analytics": 120, "metrics": 60, "performance": 5, "health": 30,
                    "accounts": 30}
    assert all(config.description for config in DEFAULT_NAMESPACES.values())


@pytest.mark.parametrize("ttl, maxsize", [(0, 10), (-1, 10), (5, 0)])
def test_namespace_config_refuses_nonsense(ttl, maxsize):
    with pytest.raises(ValueError):
        NamespaceConfig(ttl, maxsize)


def test_hits_misses_and_hit_rate_follow_the_lookups(cache):
    compute = Recorder()
    cache.get_or_compute("revenue", "daily", compute)   # miss
    cache.get_or_compute("revenue", "daily", compute)   # hit
    cache.get_or_compute("revenue", "weekly", compute)  # miss
    cache.get_or_compute("revenue", "daily", compute)   # hit
    assert cache.get("revenue", "hourly") is None       # miss
    assert cache.get("revenue", "weekly") == "computed"  # hit

    revenue = cache.stats()["namespaces"]["revenue"]
    assert (revenue["hits"], revenue["misses"], revenue["hit_rate"]) == (3, 3, 0.5)
    assert revenue["size"] == 2
    assert compute.calls == 2


def test_hit_rate_is_none_before_any_lookup(cache):
    stats = cache.stats()
    assert stats["namespaces"]["health"]["hit_rate"] is None
    assert stats["totals"]["hit_rate"] is None


def test_totals_add_up_across_namespaces(cache):
    cache.get_or_compute("live", "kpis", Recorder())
    cache.get_or_compute("live", "kpis", never)
    cache.get_or_compute("health", "all", Recorder())
    cache.get_or_compute("health", "all", never)
    cache.get_or_compute("health", "all", never)
    assert cache.stats()["totals"] == {"size": 2, "hits": 3, "misses": 2, "hit_rate": 0.6}


@pytest.mark.parametrize("namespace", sorted(DEFAULT_NAMESPACES))
def test_entries_live_exactly_their_namespace_ttl(cache, clock, namespace):
    ttl = DEFAULT_NAMESPACES[namespace].ttl
    compute = Recorder()
    cache.get_or_compute(namespace, "key", compute)
    clock.advance(ttl - 0.01)
    cache.get_or_compute(namespace, "key", compute)
    assert compute.calls == 1
    clock.advance(0.01)
    cache.get_or_compute(namespace, "key", compute)
    assert compute.calls == 2


def test_expired_entries_are_not_counted_in_size(cache, clock):
    cache.set("live", "kpis", 1)
    cache.set("revenue", "daily", 2)
    clock.advance(2)
    sizes = {name: entry["size"] for name, entry in cache.stats()["namespaces"].items()}
    assert sizes["live"] == 0 and sizes["revenue"] == 1


def test_maxsize_bounds_a_namespace():
    cache = CacheManager({"small": NamespaceConfig(ttl=60, maxsize=2)})
    for key in "abc":
        cache.set("small", key, key)
    assert cache.stats()["namespaces"]["small"]["size"] == 2
    assert cache.get("small", "a") is None
    assert cache.last_good("small", "a") == (False, None)


def fill(cache):
    cache.set("revenue", "daily", 1)
    cache.set("revenue", "weekly", 2)
    cache.set("analytics", "flow", 3)
    cache.set("health", "all", 4)


def test_clearing_one_namespace_keeps_the_others(cache):
    fill(cache)
    assert cache.clear("revenue") == 2
    assert cache.get("revenue", "daily") is None
    assert cache.last_good("revenue", "daily") == (False, None)
    assert cache.get("analytics", "flow") == 3
    assert cache.get("health", "all") == 4


def test_clearing_everything_counts_every_entry(cache):
    fill(cache)
    assert cache.clear() == 4
    assert cache.stats()["totals"]["size"] == 0
    assert cache.last_good("health", "all") == (False, None)


def test_clear_does_not_reset_the_lookup_counters(cache):
    cache.get_or_compute("revenue", "daily", Recorder())
    cache.clear()
    assert cache.stats()["namespaces"]["revenue"]["misses"] == 1


@pytest.mark.parametrize("namespace", ["revenue", None])
def test_clear_calls_the_hook_once_with_the_namespace(clock, namespace):
    heard = []
    cache = CacheManager(DEFAULT_NAMESPACES, clock=clock, on_clear=heard.append)
    fill(cache)
    cache.clear(namespace)
    assert heard == [namespace]


def test_a_clear_received_from_elsewhere_is_not_echoed(clock):
    heard = []
    cache = CacheManager(DEFAULT_NAMESPACES, clock=clock, on_clear=heard.append)
    fill(cache)
    assert cache.clear("revenue", propagate=False) == 2
    assert heard == []


def test_invalidate_drops_fresh_entries_but_keeps_last_good(cache):
    fill(cache)
    assert cache.invalidate("revenue", "analytics") == 3
    assert cache.get("revenue", "daily") is None
    assert cache.get("health", "all") == 4
    assert cache.last_good("revenue", "daily") == (True, 1)
    assert cache.last_good("analytics", "flow") == (True, 3)


def test_invalidate_with_no_namespace_means_all(cache):
    fill(cache)
    assert cache.invalidate() == 4


def test_invalidate_calls_its_own_hook_unless_received_from_elsewhere(clock):
    heard = []
    cache = CacheManager(DEFAULT_NAMESPACES, clock=clock, on_clear=heard.append,
                         on_invalidate=lambda names: heard.append(("invalidate", names)))
    cache.invalidate("revenue", "live")
    cache.invalidate("analytics", propagate=False)
    assert heard == [("invalidate", ("revenue", "live"))]


@pytest.mark.parametrize("kinds, invalidated", [
    (["transactions"], {"live", "revenue", "analytics"}),
    (["activities"], {"live", "analytics"}),
    (["metrics"], {"live", "metrics"}),
    (["transactions", "metrics"], {"live", "revenue", "analytics", "metrics"}),
    ([], set()),
])
def test_ingest_invalidates_only_the_namespaces_it_feeds(cache, kinds, invalidated):
    for name in DEFAULT_NAMESPACES:
        cache.set(name, "key", name)
    cache.invalidate_for_ingest(kinds)
    still_cached = {name for name in DEFAULT_NAMESPACES if cache.get(name, "key") is not None}
    assert still_cached == set(DEFAULT_NAMESPACES) - invalidated


def test_a_result_computed_across_an_invalidation_is_returned_but_not_cached(cache):
    def compute_while_data_arrives():
        cache.invalidate("revenue")
        return "old"

    assert cache.get_or_compute("revenue", "daily", compute_while_data_arrives) == "old"
    assert cache.get_or_compute("revenue", "daily", lambda: "new") == "new"


def test_stats_shape(cache):
    stats = cache.stats()
    assert set(stats) == {"namespaces", "totals"}
    assert set(stats["namespaces"]) == set(DEFAULT_NAMESPACES)
    assert set(stats["totals"]) == {"size", "hits", "misses", "hit_rate"}
    health = stats["namespaces"]["health"]
    assert health == {"size": 0, "maxsize": DEFAULT_NAMESPACES["health"].maxsize, "ttl": 30, "hits": 0,
                      "misses": 0, "hit_rate": None, "description": DEFAULT_NAMESPACES["health"].description}


@pytest.mark.parametrize("operation", [
    lambda cache: cache.get("nope", "key"),
    lambda cache: cache.set("nope", "key", 1),
    lambda cache: cache.get_or_compute("nope", "key", never),
    lambda cache: cache.last_good("nope", "key"),
    lambda cache: cache.clear("nope"),
    lambda cache: cache.invalidate("revenue", "nope"),
    lambda cache: cache.preload({"revenue": {"daily": never}, "nope": {"key": never}}),
])
def test_unknown_namespaces_are_refused_with_a_clear_message(cache, operation):
    cache.set("revenue", "weekly", 1)
    with pytest.raises(UnknownNamespace) as caught:
        operation(cache)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown cache namespace 'nope'; known: accounts, analytics, health")
    assert cache.get("revenue", "weekly") == 1  # nothing was half done


def test_concurrent_misses_compute_once_and_share_the_result(cache):
    calls = []

    def slow_query():
        calls.append(1)
        time.sleep(0.1)
        return object()

    results = run_together(20, lambda: cache.get_or_compute("revenue", "daily", slow_query))
    assert len(calls) == 1
    assert all(result is results[0] for result in results)


def test_a_failed_computation_reaches_every_waiter_and_is_not_cached(cache):
    calls = []

    def failing_query():
        calls.append(1)
        time.sleep(0.1)
        raise ConnectionError("database went away")

    results = run_together(20, lambda: cache.get_or_compute("revenue", "daily", failing_query))
    assert len(calls) == 1
    assert all(isinstance(result, ConnectionError) for result in results)
    assert cache.get_or_compute("revenue", "daily", lambda: "recovered") == "recovered"
    assert cache.last_good("revenue", "daily") == (True, "recovered")


def test_preload_warms_the_given_keys_then_they_hit(cache, clock):
    report = cache.preload({"revenue": {"daily": lambda: 10, "weekly": lambda: 70},
                            "analytics": {"flow": lambda: {"completed": 3}}})
    assert report == {"warmed": 3, "namespaces": ["analytics", "revenue"], "seconds": 0}
    assert cache.get_or_compute("revenue", "weekly", never) == 70
    assert cache.get_or_compute("analytics", "flow", never) == {"completed": 3}
    assert cache.stats()["totals"] == {"size": 3, "hits": 2, "misses": 0, "hit_rate": 1.0}


def test_last_good_survives_ttl_expiry(cache, clock):
    cache.get_or_compute("live", "kpis", lambda: {"users": 5})
    clock.advance(60)
    assert cache.get("live", "kpis") is None
    assert cache.last_good("live", "kpis") == (True, {"users": 5})


def test_last_good_is_empty_for_a_key_never_computed(cache):
    assert cache.last_good("live", "kpis") == (False, None)
