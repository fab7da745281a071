"""The panel watching its host and itself: host samples and their rollups (host_sampler), the request monitor
and its sketches (performance, histogram), component health (health) and the Prometheus exposition
(prometheus). Imports `database`, `analytics.time_buckets` (rollup periods), `cache.circuit_breaker` (the health
probe goes through it) and `runtime.process` (for the process's live objects), nothing else."""
