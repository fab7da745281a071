"""Telling people: alerts as listed and acknowledged (alerts), notifications (notifications) and the value a
rule watches, per label set, read from rollups and in-process histograms (series). Imports `database`;
series also reads through `analytics` (metric rollups, KPIs) and `monitoring` (host samples, request stats)."""
