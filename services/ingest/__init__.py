"""What senders push: the batch schema and its validation (event_schema), the bulk writes with their rollups
(writer, bulk_sql). Imports `database`, `analytics.time_buckets` and `monitoring.histogram` (metric sketches)."""
