"""Preload warms exactly what the dashboard's first paint reads: the URLs Chromium requests on a first visit,
replayed after a preload against an app whose cache clock stands still, all hit and none miss."""
from urllib.parse import urlsplit

from services.cache.cache_manager import DEFAULT_NAMESPACES, CacheManager
from tests.browser.test_login import log_in

# Answered live or never cached: what the dashboard also reads, but no preload could warm.
# Not cached reads: live lists, annotations, asked for from the client's own clock (no two pages share a key), and
# the user's own explorer pins.
UNCACHED = ("/admin/api/alerts", "/admin/api/cache/stats", "/admin/api/annotations", "/admin/api/explorer/pins")
# Read by every request (the logged-in user), not by the dashboard's panels.
SESSION_NAMESPACES = ("accounts",)


def first_paint_reads(page, server) -> list[str]:
    requested = []
    page.on("request", lambda request: request.method == "GET" and requested.append(request.url))
    log_in(page, server)
    page.wait_for_url("**/admin/dashboard")
    page.wait_for_function("() => Number(document.getElementById('chart-activity').dataset.renders) > 0")
    page.wait_for_load_state("networkidle")
    paths = [urlsplit(url) for url in requested]
    return sorted({f"{url.path}?{url.query}" for url in paths
                   if url.path.startswith("/admin/api/") and url.path not in UNCACHED
                   and not url.path.startswith("/admin/api/stream")})


def test_preload_warms_exactly_the_first_paint_reads(page, live_server, app, admin, client):
    reads = first_paint_reads(page, live_server)
    assert len(reads) >= 6, reads
    app.extensions["runtime"].cache = CacheManager(DEFAULT_NAMESPACES, clock=lambda: 0.0)  # nothing expires

    warmed = admin.call("POST", "/admin/api/cache/preload").json["warmed"]
    for path in reads:
        assert client.get(path).status_code == 200, path
    namespaces = client.get("/admin/api/cache/stats").json["namespaces"]
    misses = {name: stats["misses"] for name, stats in namespaces.items() if name not in SESSION_NAMESPACES}
    hits = sum(stats["hits"] for name, stats in namespaces.items() if name not in SESSION_NAMESPACES)

    assert sum(misses.values()) == 0, f"the first paint read something preload did not warm: {misses}, {reads}"
    assert hits == warmed == len(reads), f"preload warmed entries the first paint does not read: {reads}"
