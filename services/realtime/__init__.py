"""Pushes to open dashboards: the numbered stream with its epoch and replay buffer (hub), who listens where
(presence), the Socket.IO fan-out loop (fanout), SSE frames (streams), the once-a-second live_update (broadcaster) and
the eventlet WebSocket connections (websocket_transport), whose uses of other libraries' internals stand in one file
per library (engineio_internals, eventlet_internals). Knows nothing of HTTP views; imports `analytics.kpis` for the
live_update body."""
