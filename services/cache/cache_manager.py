"""In-process TTL caches, one namespace per kind of data, with stats, single-flight and stale fallback."""
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import LRUCache, TTLCache

T = TypeVar("T")
ClearHook = Callable[[str | None], None]
InvalidateHook = Callable[[tuple[str, ...]], None]
PreloadHook = Callable[[], None]


@dataclass(frozen=True)
class NamespaceConfig:
    """How long entries of one namespace live, how many it keeps, and what it holds."""

    ttl: float
    maxsize: int = 256
    description: str = ""

    def __post_init__(self) -> None:
        if self.ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds")
        if self.maxsize < 1:
            raise ValueError("maxsize must be at least 1")


# TTLs trade freshness for database load: live numbers change every broadcast, rollups slowly.
DEFAULT_NAMESPACES: dict[str, NamespaceConfig] = {
    "live": NamespaceConfig(1, 64, "KPIs and the latest host sample behind metrics/live and live_update"),
    "revenue": NamespaceConfig(300, 256, "revenue buckets and summaries (analytics/revenue)"),
    "analytics": NamespaceConfig(120, 256, "transaction flow, transaction lists and user activity"),
    "metrics": NamespaceConfig(60, 512, "custom metric time series from rollups (metrics/query)"),
    "performance": NamespaceConfig(5, 64, "per-endpoint request timings (performance/stats)"),
    "health": NamespaceConfig(30, 16, "component checks behind the health endpoint"),
    "accounts": NamespaceConfig(30, 1024, "logged-in users by id, so sessions survive a database outage"),
}

# Which namespaces hold answers derived from each kind of ingested item (SPEC §6).
INGEST_INVALIDATES: dict[str, tuple[str, ...]] = {
    "transactions": ("live", "revenue", "analytics"),
    "activities": ("live", "analytics"),
    "metrics": ("live", "metrics"),
}


class UnknownNamespace(KeyError):
    """A namespace name that the cache manager was not configured with."""

    def __init__(self, namespace: str, known: Iterable[str]) -> None:
        self.namespace = namespace
        self.message = f"unknown cache namespace {namespace!r}; known: {', '.join(sorted(known))}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError would print the message quoted, as if it were a key.
        return self.message


class _Flight:
    """One computation in progress, shared by every caller that missed the same key meanwhile."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def finish(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error
        self.done.set()

    def result(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _Namespace:
    """The caches, counters and in-flight computations of one namespace, behind one lock."""

    def __init__(self, config: NamespaceConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.fresh = TTLCache(config.maxsize, config.ttl, timer=clock)
        # Outlives TTL expiry and invalidation so reads can degrade to it while the database is down.
        self.last_good = LRUCache(config.maxsize)
        self.lock = threading.Lock()
        self.flights: dict[Hashable, _Flight] = {}
        # Bumped by every clear, so a computation that started before it cannot store old data after it.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def lookup(self, key: Hashable) -> tuple[bool, Any]:
        """Count and answer one lookup; the caller holds the lock."""
        try:
            value = self.fresh[key]
        except KeyError:
            self.misses += 1
            return False, None
        self.hits += 1
        return True, value

    def store(self, key: Hashable, value: Any) -> None:
        self.fresh[key] = value
        self.last_good[key] = value

    def drop(self, keep_last_good: bool) -> int:
        with self.lock:
            self.fresh.expire()
            removed = len(self.fresh)
            self.fresh.clear()
            if not keep_last_good:
                self.last_good.clear()
            self.generation += 1
            # Later callers must start a new computation instead of joining one that predates the clear.
            self.flights.clear()
            return removed

    def stats(self) -> dict:
        with self.lock:
            self.fresh.expire()
            return {"size": len(self.fresh), "maxsize": self.config.maxsize, "ttl": self.config.ttl,
                    "hits": self.hits, "misses": self.misses, "hit_rate": hit_rate(self.hits, self.misses),
                    "description": self.config.description}


def hit_rate(hits: int, misses: int) -> float | None:
    """Share of lookups answered from the cache, or None when there were none."""
    lookups = hits + misses
    return round(hits / lookups, 4) if lookups else None


class CacheManager:
    """Named TTL caches shared by the API, the broadcaster and the ingest path of one process.

    `on_clear(namespace)`, `on_invalidate(namespaces)` and `on_preload()` let another layer (the Redis
    publisher of services/cluster/shared_cache.py) repeat a clear or a preload in every process; the receiving
    side calls back with propagate=False.
    """

    def __init__(self, namespaces: Mapping[str, NamespaceConfig] = DEFAULT_NAMESPACES,
                 clock: Callable[[], float] = time.monotonic, on_clear: ClearHook | None = None,
                 on_invalidate: InvalidateHook | None = None, on_preload: PreloadHook | None = None) -> None:
        self._clock = clock
        self._namespaces = {name: _Namespace(config, clock) for name, config in namespaces.items()}
        self.on_clear = on_clear
        self.on_invalidate = on_invalidate
        self.on_preload = on_preload

    @property
    def names(self) -> list[str]:
        """The configured namespace names."""
        return list(self._namespaces)

    def _namespace(self, name: str) -> _Namespace:
        try:
            return self._namespaces[name]
        except KeyError:
            raise UnknownNamespace(name, self._namespaces) from None

    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        """The fresh cached value, or `default`; counts as a hit or a miss."""
        ns = self._namespace(namespace)
        with ns.lock:
            found, value = ns.lookup(key)
        return value if found else default

    def set(self, namespace: str, key: Hashable, value: Any) -> None:
        """Store a value as fresh and as the last known good one."""
        ns = self._namespace(namespace)
        with ns.lock:
            ns.store(key, value)

    def get_or_compute(self, namespace: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, else compute it once however many callers miss the same key at the same time."""
        ns = self._namespace(namespace)
        with ns.lock:
            found, value = ns.lookup(key)
            if found:
                return value
            flight = ns.flights.get(key)
            leading = flight is None
            if leading:
                flight = ns.flights[key] = _Flight(ns.generation)
        if not leading:
            return flight.result()
        return self._lead(ns, key, flight, compute)

    def _lead(self, ns: _Namespace, key: Hashable, flight: _Flight, compute: Callable[[], T]) -> T:
        try:
            value = compute()
        except BaseException as error:
            # BaseException too, so waiters are released even when the leader is killed.
            self._land(ns, key, flight)
            flight.finish(error=error)
            raise
        self._land(ns, key, flight, value, store=True)
        flight.finish(value)
        return value

    @staticmethod
    def _land(ns: _Namespace, key: Hashable, flight: _Flight, value: Any = None, store: bool = False) -> None:
        with ns.lock:
            if store and flight.generation == ns.generation:
                ns.store(key, value)
            if ns.flights.get(key) is flight:
                del ns.flights[key]

    def last_good(self, namespace: str, key: Hashable) -> tuple[bool, Any]:
        """(found, value) of the last value computed or set for the key, even if expired or invalidated."""
        ns = self._namespace(namespace)
        with ns.lock:
            try:
                return True, ns.last_good[key]
            except KeyError:
                return False, None

    def clear(self, namespace: str | None = None, propagate: bool = True) -> int:
        """Empty one namespace or all (last known good values too); return how many fresh entries went."""
        targets = [self._namespace(namespace)] if namespace is not None else self._namespaces.values()
        removed = sum(ns.drop(keep_last_good=False) for ns in targets)
        # A failing hook raises here, after the local clear has been done.
        if propagate and self.on_clear is not None:
            self.on_clear(namespace)
        return removed

    def invalidate(self, *namespaces: str, propagate: bool = True) -> int:
        """Drop fresh entries of the given namespaces (all when none given) after new data; keep last good."""
        names = namespaces or tuple(self._namespaces)
        targets = [self._namespace(name) for name in names]
        removed = sum(ns.drop(keep_last_good=True) for ns in targets)
        if propagate and self.on_invalidate is not None:
            self.on_invalidate(tuple(names))
        return removed

    def invalidate_for_ingest(self, kinds: Iterable[str], propagate: bool = True) -> int:
        """Invalidate the namespaces fed by the ingested kinds ("transactions", "activities", "metrics")."""
        affected = {name for kind in kinds for name in INGEST_INVALIDATES.get(kind, ())}
        names = tuple(name for name in self._namespaces if name in affected)
        return self.invalidate(*names, propagate=propagate) if names else 0

    def preload(self, loaders: Mapping[str, Mapping[Hashable, Callable[[], Any]]], propagate: bool = True) -> dict:
        """Compute and store every given (namespace, key); a loader's error stops the preload."""
        for name in loaders:
            self._namespace(name)  # refuse an unknown namespace before any work is done
        started = self._clock()
        warmed = 0
        for name, by_key in loaders.items():
            for key, load in by_key.items():
                self.set(name, key, load())
                warmed += 1
        if propagate and self.on_preload is not None:
            self.on_preload()
        return {"warmed": warmed, "namespaces": sorted(loaders), "seconds": round(self._clock() - started, 3)}

    def stats(self) -> dict:
        """Per namespace: size, maxsize, ttl, hits, misses, hit_rate, description; and totals."""
        per_namespace = {name: ns.stats() for name, ns in self._namespaces.items()}
        hits = sum(entry["hits"] for entry in per_namespace.values())
        misses = sum(entry["misses"] for entry in per_namespace.values())
        totals = {"size": sum(entry["size"] for entry in per_namespace.values()),
                  "hits": hits, "misses": misses, "hit_rate": hit_rate(hits, misses)}
        return {"namespaces": per_namespace, "totals": totals}
