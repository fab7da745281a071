"""Concurrent senders against a real server: repeated ids stored once, rollups equal to the rows, on SQLite and PostgreSQL."""
import csv
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from tests.servers import ROOT, login_session

IDS = [f"order-{n}" for n in range(150)]
STATUSES = ["pending", "completed", "failed", "refunded"]


def create_api_key(server) -> str:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "api-keys", "create", "e2e"],
                            cwd=ROOT, env=server.env, check=True, capture_output=True, text=True, timeout=60)
    return result.stdout.strip().splitlines()[-1]


def send_round(url: str, key: str, sender: int) -> list[dict]:
    """One sender posts every id, each with its own amount and status, in three batches."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    answers = []
    for start in range(0, len(IDS), 50):
        batch = [{"id": order, "amount": f"{sender + 1}.{n % 100:02d}", "currency": "USD",
                  "status": STATUSES[(sender + n) % 4], "user_id": f"u-{n}"}
                 for n, order in enumerate(IDS[start:start + 50], start=start)]
        response = session.post(url + "/api/v1/events", json={"transactions": batch}, timeout=30)
        assert response.status_code == 202, response.text
        answers.append(response.json())
    return answers


def test_concurrent_repeated_ids_are_stored_once_with_consistent_rollups(ingest_server):
    key = create_api_key(ingest_server)
    with ThreadPoolExecutor(max_workers=6) as pool:
        rounds = list(pool.map(lambda sender: send_round(ingest_server.url, key, sender), range(6)))
    assert all(answer["rejected"] == 0 for answers in rounds for answer in answers)

    admin = login_session(ingest_server)
    export = admin.get(ingest_server.url + "/admin/api/export/transactions.csv", timeout=30).text
    rows = list(csv.DictReader(io.StringIO(export)))
    assert sorted(row["id"] for row in rows) == sorted(IDS)

    flow = admin.get(ingest_server.url + "/admin/api/transactions/flow", timeout=10).json()
    by_status = {entry["status"]: entry for entry in flow["statuses"]}
    assert flow["total_count"] == len(IDS)
    for status in STATUSES:
        stored = [Decimal(row["amount"]) for row in rows if row["status"] == status]
        expected = by_status.get(status, {"count": 0, "amounts": {"USD": "0.00"}})
        assert expected["count"] == len(stored), status
        assert Decimal(expected["amounts"].get("USD", "0")) == sum(stored), status
