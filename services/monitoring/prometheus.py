"""The Prometheus text exposition format (version 0.0.4) of this process's host, requests, ingest and cache."""
from services.monitoring.histogram import LogHistogram, bucket_value
from services.runtime.process import Runtime

# Cumulative `le` bounds (ms) exposed for request durations; our finer log buckets fold into them.
DURATION_BOUNDS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**pairs) -> str:
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in pairs.items()) + "}"


def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"] + [f"{name}{label} {value}" for label, value in samples]


def host_lines(runtime: Runtime) -> list[str]:
    sample = runtime.latest_sample
    if not sample:
        return []
    who = labels(host=sample["host"], pid=sample["pid"])
    gauges = {"pulseboard_host_cpu_percent": sample["cpu"]["percent"],
              "pulseboard_host_memory_percent": sample["memory"]["percent"],
              "pulseboard_host_disk_percent": sample["disk"]["percent"],
              "pulseboard_host_load1": sample["cpu"]["load_avg"][0],
              "pulseboard_process_resident_memory_bytes": sample["process"]["rss"],
              "pulseboard_process_cpu_percent": sample["process"]["cpu_percent"]}
    return [line for name, value in gauges.items() for line in family(name, "gauge", name.replace("_", " "), [(who, value)])]


def request_lines(rows: list[dict]) -> list[str]:
    """Request durations since the process started, as a cumulative histogram per endpoint and method."""
    buckets, counts, sums = [], [], []
    for row in rows:
        histogram = LogHistogram.from_dict(row["histogram"])
        base = {"endpoint": row["endpoint"], "method": row["method"]}
        for bound in DURATION_BOUNDS_MS:
            below = sum(n for index, n in histogram.counts.items() if bucket_value(index) <= bound)
            buckets.append((labels(**base, le=bound), below))
        buckets.append((labels(**base, le="+Inf"), row["count"]))
        counts.append((labels(**base), row["count"]))
        sums.append((labels(**base), round(row["total_ms"], 3)))
    if not rows:
        return []
    name = "pulseboard_request_duration_ms"
    return ([f"# HELP {name} request durations since the process started", f"# TYPE {name} histogram"]
            + [f"{name}_bucket{label} {value}" for label, value in buckets]
            + [f"{name}_count{label} {value}" for label, value in counts]
            + [f"{name}_sum{label} {value}" for label, value in sums])


def exposition(runtime: Runtime) -> str:
    cache = runtime.cache.stats()["namespaces"]
    lines = host_lines(runtime) + request_lines(runtime.request_lifetime())
    lines += family("pulseboard_ingested_items_total", "counter", "items stored by the ingest API",
                    [(labels(kind=kind), count) for kind, count in sorted(runtime.ingested.items())])
    lines += family("pulseboard_rejected_items_total", "counter", "items refused by the ingest API",
                    [(labels(kind=kind), count) for kind, count in sorted(runtime.rejected.items())])
    presence = runtime.presence.counts()
    lines += family("pulseboard_connected_clients", "gauge", "real-time clients connected",
                    [(labels(transport="socketio"), presence["sockets"]), (labels(transport="sse"), presence["streams"])])
    for stat, kind in (("hits", "counter"), ("misses", "counter"), ("size", "gauge")):
        lines += family(f"pulseboard_cache_{stat}{'_total' if kind == 'counter' else ''}", kind, f"cache {stat}",
                        [(labels(namespace=name), values[stat]) for name, values in sorted(cache.items())])
    return "\n".join(lines) + "\n"
