"""A scrape of a real server's /metrics, read whole by prometheus_client's own text parser."""
import time
from contextlib import closing

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import LIVE_ADMIN, login_session

TOKEN = "scrape-token"


def scrape(server) -> dict:
    """Every family of one scrape by name, once the host sampler has taken its first sample."""
    deadline = time.monotonic() + 10
    while True:
        response = requests.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        families = {family.name: family for family in text_string_to_metric_families(response.text)}
        if "pulseboard_host_cpu_percent" in families or time.monotonic() > deadline:
            return families
        time.sleep(0.1)


def values(family, sample_name: str, **labels) -> list[float]:
    return [sample.value for sample in family.samples
            if sample.name == sample_name and labels.items() <= sample.labels.items()]


def test_a_scrape_parses_whole_with_sane_values(server_factory):
    server = server_factory(ADMIN_PASSWORD=LIVE_ADMIN[1], METRICS_TOKEN=TOKEN, SYSTEM_SAMPLE_INTERVAL="0.2")
    with closing(login_session(server)) as admin:
        key = admin.post(server.url + "/admin/api/api-keys", json={"name": "scrape"}, timeout=10).json()["key"]
        for _ in range(3):
            assert admin.get(server.url + "/admin/api/audit", timeout=10).status_code == 200
        sent = requests.post(server.url + "/api/v1/events", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                             json={"metrics": [{"name": "queue_depth", "value": 4}, {"name": "queue_depth", "value": 5}],
                                   "activities": [{"user_id": "u-1"}]})
        assert sent.status_code == 202 and sent.json()["rejected"] == 1, sent.text
        with closing(admin.get(server.url + "/admin/api/stream", stream=True, timeout=10)) as stream:
            next(stream.iter_lines())  # the server counts the stream before its first line
            families = scrape(server)

    assert values(families["pulseboard_ingested_items"], "pulseboard_ingested_items_total", kind="metrics") == [2]
    assert values(families["pulseboard_rejected_items"], "pulseboard_rejected_items_total", kind="activity") == [1]
    assert families["pulseboard_ingested_items"].type == "counter"

    requests_family = families["pulseboard_request_duration_ms"]
    assert requests_family.type == "histogram"
    audit = {"endpoint": "/admin/api/audit", "method": "GET"}
    buckets = [sample for sample in requests_family.samples
               if sample.name.endswith("_bucket") and audit.items() <= sample.labels.items()]
    counts = [sample.value for sample in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
    assert values(requests_family, "pulseboard_request_duration_ms_count", **audit) == [3] == counts[-1:]
    assert values(requests_family, "pulseboard_request_duration_ms_sum", **audit)[0] > 0

    assert values(families["pulseboard_connected_clients"], "pulseboard_connected_clients", transport="sse") == [1]
    assert values(families["pulseboard_connected_clients"], "pulseboard_connected_clients", transport="socketio") == [0]
    assert 0 < values(families["pulseboard_host_memory_percent"], "pulseboard_host_memory_percent")[0] <= 100
    assert values(families["pulseboard_process_resident_memory_bytes"],
                  "pulseboard_process_resident_memory_bytes")[0] > 10 * 2**20
    assert {"hits", "misses", "size"} <= {name.removeprefix("pulseboard_cache_") for name in families}
    assert all(sample.value >= 0 for name in families if name.startswith("pulseboard_cache_")
               for sample in families[name].samples)
