"""Reading the business back: revenue, transactions and activity (business), the live KPIs (kpis), custom
metric series (metric_queries), time buckets and ranges (time_buckets) and CSV exports (exports). Read-only
over `database`; may import `ingest.event_schema` (amount formatting) and `monitoring` (request figures)."""
