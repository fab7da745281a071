"""Telling people: alert rules (rules), the value a rule watches per label set, read from rollups and in-process
histograms (series), a rule evaluated now without side effects (preview), alerts as listed and acknowledged
(alerts) and notifications (notifications). Imports `database`; series also reads through `analytics` (metric
rollups, KPIs) and `monitoring` (host samples, request stats), and rules takes ingest's metric-name rules."""
