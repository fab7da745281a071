"""Prometheus metrics of the processes' hosts, requests, ingest, real-time clients and caches.

A prometheus_client collector reads them from the runtime at each scrape: the services already keep these
figures, so nothing is counted twice. Each app has a registry of its own, not prometheus_client's global one,
which would add the library's own process and platform metrics and outlive the app (tests build many apps).
"""
from collections.abc import Iterator
from functools import reduce
from typing import NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from services.cluster import shared_measurements
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
    """Turns the runtime into metric families, afresh at each collect(). In a cluster a scrape of any process
    covers every process (the others as of their last heartbeat), each series labelled with its host and pid."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        processes = [shared_measurements.own(self.runtime), *self.runtime.peers.processes]
        # One process keeps the series it always had; several get a process's labels, so no two series collide.
        by = ProcessLabels(("host", "pid") if len(processes) > 1 else ())
        yield from host_families([process.sample for process in processes if process.sample])
        if any(process.lifetime for process in processes):
            yield request_family(processes, by)
        yield counter_family("pulseboard_ingested_items", "items stored by the ingest API", "kind",
                             [(process, process.ingested) for process in processes], by)
        yield counter_family("pulseboard_rejected_items", "items refused by the ingest API", "kind",
                             [(process, process.rejected) for process in processes], by)
        yield clients_family(processes, by)
        yield from cache_families(processes, by)


class ProcessLabels(NamedTuple):
    names: tuple[str, ...]

    def of(self, process: shared_measurements.Measurements) -> list[str]:
        return [process.host, str(process.pid)] if self.names else []


def registry(runtime: Runtime) -> CollectorRegistry:
    """A registry of its own holding the runtime's collector, for prometheus_client.generate_latest."""
    metrics = CollectorRegistry()
    metrics.register(RuntimeCollector(runtime))
    return metrics


def host_families(samples: list[dict]) -> Iterator[GaugeMetricFamily]:
    """One family per gauge with every process's sample in it: the text format allows a name's TYPE line once."""
    if not samples:
        return
    for name, path in HOST_GAUGES.items():
        family = GaugeMetricFamily(name, name.replace("_", " "), labels=["host", "pid"])
        for sample in samples:
            family.add_metric([sample["host"], str(sample["pid"])], reduce(lambda data, step: data[step], path, sample))
        yield family


def request_family(processes: list, by: ProcessLabels) -> HistogramMetricFamily:
    """Request durations since the process started, as a cumulative histogram per endpoint and method."""
    family = HistogramMetricFamily("pulseboard_request_duration_ms", "request durations since the process started",
                                   labels=["endpoint", "method", *by.names])
    for process in processes:
        for row in process.lifetime:
            family.add_metric([row["endpoint"], row["method"], *by.of(process)], cumulative_buckets(row),
                              round(row["total_ms"], 3))
    return family


def cumulative_buckets(row: dict) -> list[tuple[str, int]]:
    counts = [(bucket_value(index), n) for index, n in LogHistogram.from_dict(row["histogram"]).counts.items()]
    below = [(str(bound), sum(n for value, n in counts if value <= bound)) for bound in DURATION_BOUNDS_MS]
    return below + [("+Inf", row["count"])]


def counter_family(name: str, help_text: str, label: str, counts: list[tuple], by: ProcessLabels) -> CounterMetricFamily:
    """`counts`: (process, {label value: count}) of each process."""
    family = CounterMetricFamily(name, help_text, labels=[label, *by.names])
    for process, values in counts:
        for value, count in sorted(values.items()):
            family.add_metric([value, *by.of(process)], count)
    return family


def clients_family(processes: list, by: ProcessLabels) -> GaugeMetricFamily:
    family = GaugeMetricFamily("pulseboard_connected_clients", "real-time clients connected",
                               labels=["transport", *by.names])
    for process in processes:
        family.add_metric(["socketio", *by.of(process)], process.clients.get("sockets", 0))
        family.add_metric(["sse", *by.of(process)], process.clients.get("streams", 0))
    return family


def cache_families(processes: list, by: ProcessLabels) -> Iterator[Metric]:
    for stat, kind in (("hits", CounterMetricFamily), ("misses", CounterMetricFamily), ("size", GaugeMetricFamily)):
        family = kind(f"pulseboard_cache_{stat}", f"cache {stat}", labels=["namespace", *by.names])
        for process in processes:
            for name, values in sorted((process.cache or {}).get("namespaces", {}).items()):
                family.add_metric([name, *by.of(process)], values[stat])
        yield family
