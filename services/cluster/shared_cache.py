"""Every process's cache hears of the others' clears, preloads and ingest invalidations (Redis pub/sub).

Each process subscribes to one channel of the cluster with one listener loop, which also sends this process's
ingest invalidations, gathered for a moment: ingest invalidates on every batch, and one message per batch
would put a Redis round trip on the ingest path. A lost message costs freshness only until the namespace's
TTL, so the channel needs no replay; the listener reconnects with backoff when Redis goes away.
"""
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable

from redis import Redis

from services.cache.cache_manager import CacheManager, hit_rate
from services.cluster.connection import BACKOFF, REDIS_DOWN, key
from services.runtime.process import Runtime

log = logging.getLogger(__name__)
# How long ingest invalidations gather before one message carries them; also the listener's poll, so it costs
# an idle process two wake-ups a second (at 0.1 s the cluster's idle CPU was measurably higher).
GATHER_SECONDS = 0.5


class SharedCache:
    def __init__(self, cache: CacheManager, redis: Redis, cluster: str, origin: str,
                 preload_here: Callable[[], object]) -> None:
        self.cache, self.redis, self.origin, self.preload_here = cache, redis, origin, preload_here
        self.channel = key(cluster, "cache")
        self.pending: set[str] = set()
        self.stopped = threading.Event()
        cache.on_clear = lambda namespace: self.send({"op": "clear", "namespace": namespace})
        cache.on_preload = lambda: self.send({"op": "preload"})
        cache.on_invalidate = lambda namespaces: self.pending.update(namespaces)  # the set is swapped at each send

    def send(self, message: dict) -> None:
        """Publish now. Without Redis the other processes keep their entries until the TTL: logged, since the
        local clear or preload that called this has been done and is still worth its answer."""
        try:
            self.redis.publish(self.channel, json.dumps(message | {"origin": self.origin}))
        except REDIS_DOWN as error:
            log.warning("cache %s not passed on to the cluster: %s", message["op"], error)

    def apply(self, message: dict) -> None:
        if message["origin"] == self.origin:
            return
        if message["op"] == "clear":
            self.cache.clear(message["namespace"], propagate=False)
        elif message["op"] == "invalidate":
            self.cache.invalidate(*message["namespaces"], propagate=False)
        elif message["op"] == "preload":
            self.preload_here()

    def listen(self, sleep: Callable[[float], None]) -> None:
        """The one listener loop of the process: subscribe, apply, send gathered invalidations; reconnect on loss."""
        failures = 0
        while not self.stopped.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                failures = 0
                self._follow(pubsub)
            except Exception as error:  # Redis away, mostly; whatever it is, the listener must outlive it
                failures += 1
                log.warning("cache channel lost (%s); retry %d", error, failures)
                sleep(BACKOFF.compute(failures))  # jittered: the cluster's processes do not reconnect in step
            finally:
                pubsub.close()

    def _follow(self, pubsub) -> None:
        while not self.stopped.is_set():
            self._send_invalidations()
            message = pubsub.get_message(timeout=GATHER_SECONDS)
            if message is not None:
                self._receive(message["data"])

    def _send_invalidations(self) -> None:
        if self.pending:
            gathered, self.pending = self.pending, set()
            self.send({"op": "invalidate", "namespaces": sorted(gathered)})

    def _receive(self, data: bytes) -> None:
        try:
            self.apply(json.loads(data))
        except (ValueError, KeyError, TypeError) as error:  # a stranger's message on our channel must not stop us
            log.warning("ignored a cache message %r: %s", data[:200], error)


def cluster_stats(runtime: Runtime) -> dict:
    """Cache stats per process (this one first) and summed over the cluster."""
    processes = [{"host": runtime.host, "pid": runtime.pid, **runtime.cache.stats()}]
    processes += [{"host": peer.host, "pid": peer.pid, **peer.cache} for peer in runtime.peers.processes if peer.cache]
    totals = Counter()
    namespaces: dict[str, Counter] = {}
    for process in processes:
        totals.update({name: process["totals"][name] for name in ("size", "hits", "misses")})
        for name, figures in process["namespaces"].items():
            namespaces.setdefault(name, Counter()).update({stat: figures[stat] for stat in ("size", "hits", "misses")})
    return {"processes": processes, "totals": summed(totals),
            "namespaces": {name: summed(counts) for name, counts in namespaces.items()}}


def summed(counts: Counter) -> dict:
    return {"size": counts["size"], "hits": counts["hits"], "misses": counts["misses"],
            "hit_rate": hit_rate(counts["hits"], counts["misses"])}
