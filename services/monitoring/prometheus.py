"""Prometheus metrics of this process's host, requests, ingest, real-time clients and cache.

A prometheus_client collector reads them from the runtime at each scrape: the services already keep these
figures, so nothing is counted twice. Each app has a registry of its own, not prometheus_client's global one,
which would add the library's own process and platform metrics and outlive the app (tests build many apps).
"""
from collections.abc import Iterator
from functools import reduce

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from services.monitoring.histogram import LogHistogram, bucket_value
from services.runtime.process import Runtime

# Cumulative `le` bounds (ms) exposed for request durations; our finer log buckets fold into them.
DURATION_BOUNDS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
# Each host gauge, by its path in a host sample.
HOST_GAUGES = {"pulseboard_host_cpu_percent": ("cpu", "percent"),
               "pulseboard_host_memory_percent": ("memory", "percent"),
               "pulseboard_host_disk_percent": ("disk", "percent"),
               "pulseboard_host_load1": ("cpu", "load_avg", 0),
               "pulseboard_process_resident_memory_bytes": ("process", "rss"),
               "pulseboard_process_cpu_percent": ("process", "cpu_percent")}


class RuntimeCollector:
    """Turns one process's runtime into metric families, afresh at each collect()."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        if self.runtime.latest_sample:
            yield from host_families(self.runtime.latest_sample)
        requests = self.runtime.request_lifetime()
        if requests:
            yield request_family(requests)
        yield counter_family("pulseboard_ingested_items", "items stored by the ingest API", "kind", self.runtime.ingested)
        yield counter_family("pulseboard_rejected_items", "items refused by the ingest API", "kind", self.runtime.rejected)
        yield clients_family(self.runtime.presence.counts())
        yield from cache_families(self.runtime.cache.stats()["namespaces"])


def registry(runtime: Runtime) -> CollectorRegistry:
    """A registry of its own holding the runtime's collector, for prometheus_client.generate_latest."""
    metrics = CollectorRegistry()
    metrics.register(RuntimeCollector(runtime))
    return metrics


def host_families(sample: dict) -> Iterator[GaugeMetricFamily]:
    for name, path in HOST_GAUGES.items():
        family = GaugeMetricFamily(name, name.replace("_", " "), labels=["host", "pid"])
        family.add_metric([sample["host"], str(sample["pid"])], reduce(lambda data, step: data[step], path, sample))
        yield family


def request_family(rows: list[dict]) -> HistogramMetricFamily:
    """Request durations since the process started, as a cumulative histogram per endpoint and method."""
    family = HistogramMetricFamily("pulseboard_request_duration_ms", "request durations since the process started",
                                   labels=["endpoint", "method"])
    for row in rows:
        family.add_metric([row["endpoint"], row["method"]], cumulative_buckets(row), round(row["total_ms"], 3))
    return family


def cumulative_buckets(row: dict) -> list[tuple[str, int]]:
    counts = [(bucket_value(index), n) for index, n in LogHistogram.from_dict(row["histogram"]).counts.items()]
    below = [(str(bound), sum(n for value, n in counts if value <= bound)) for bound in DURATION_BOUNDS_MS]
    return below + [("+Inf", row["count"])]


def counter_family(name: str, help_text: str, label: str, counts: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def clients_family(presence: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily("pulseboard_connected_clients", "real-time clients connected", labels=["transport"])
    family.add_metric(["socketio"], presence["sockets"])
    family.add_metric(["sse"], presence["streams"])
    return family


def cache_families(namespaces: dict[str, dict]) -> Iterator[Metric]:
    for stat, kind in (("hits", CounterMetricFamily), ("misses", CounterMetricFamily), ("size", GaugeMetricFamily)):
        family = kind(f"pulseboard_cache_{stat}", f"cache {stat}", labels=["namespace"])
        for name, values in sorted(namespaces.items()):
            family.add_metric([name], values[stat])
        yield family
