"""What the dashboard reads: each cached read of the admin API named once (reads), with the default view of the
dashboard's first page. Imports `analytics`, `monitoring` and `runtime.process` (the live request figures)."""
