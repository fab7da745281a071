"""Telling people, in three parts.

Rules: `rules` (fields, validation, CRUD; bodies are read through `body_fields`, as receivers' are), `defaults`
(the four a new installation starts with), `series` (the value a rule watches per label set, from rollups and
in-process histograms; its query and spans in `series_query`, reads a pass shares in `pass_reads`), `preview`
(a rule evaluated now, changing nothing), `rule_snapshots` (rules as a pass keeps them).
The engine: `lifecycle` (an instance's state machine, pure), `evaluator` (the loop's pass: instances, history,
silences, flapping, notifications, pushes), `alerts` (instances as listed, acknowledged and their history),
`silences`, `periods` (firing bands for the charts), `history` (retention), `notifications` (in-app).
Delivery: `receivers`, `delivery` (queueing deliveries as rows, retries), `webhook_bodies` (Alertmanager and
Slack bodies), `delivery_worker` (sends them in the background), `sample_alert` (what a test sends).

Imports `database`; series reads through `analytics` and `monitoring`; the evaluator publishes through the
runtime's hub. Nothing here imports Flask.
"""
