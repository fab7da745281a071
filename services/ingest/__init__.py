"""What senders push: the batch schema and its validation (event_schema), the bulk writes with their rollups
(writer, bulk_sql), and who runs them: the server's own process (group_commit) or a child (writer_process).
Imports `database`, `analytics.time_buckets` and `monitoring.histogram` (metric sketches)."""
