"""Pushes to open dashboards: the numbered stream with its replay buffer (hub), who listens where (presence),
the Socket.IO fan-out loop (fanout), SSE frames (streams), the once-a-second live_update (broadcaster) and the
eventlet WebSocket connections (websocket_transport). Knows nothing of HTTP views; imports `analytics.kpis`
for the live_update body."""
