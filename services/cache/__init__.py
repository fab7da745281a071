"""Reads that survive load and outages: the TTL cache by namespace with single-flight misses (cache_manager) and
the database circuit breaker that serves the last good value (circuit_breaker). Imports no other area."""
