"""20,000 transactions, 10 % of them repeats, from concurrent senders: each id stored once, rollups equal to the rows."""
import csv
import io
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from tests.e2e.test_ingest_server import create_api_key
from tests.servers import login_session

UNIQUE_IDS = 18_000
REPEATS = 2_000
BATCH = 500
SENDERS = 8
STATUSES = ("completed", "pending", "failed", "refunded")


def batches() -> list[list[dict]]:
    """40 batches of 500; every repeat lands in another batch than its first sending, with another amount and status."""
    rng = random.Random(16)
    ids = [f"exact-{n}" for n in range(UNIQUE_IDS)]
    items = [{"id": order, "amount": f"{rng.randrange(1, 10_000)}.{rng.randrange(100):02d}", "currency": "USD",
              "status": rng.choice(STATUSES), "user_id": f"u-{n % 97}"} for n, order in enumerate(ids)]
    repeats = [{**item, "amount": f"{rng.randrange(1, 10_000)}.25", "status": rng.choice(STATUSES)}
               for item in rng.sample(items, REPEATS)]
    rng.shuffle(repeats)
    stream = items + repeats  # repeats are in the last four batches, their first sendings in the first 36
    return [stream[start:start + BATCH] for start in range(0, len(stream), BATCH)]


def test_twenty_thousand_concurrent_items_with_repeats_are_stored_exactly_once(ingest_server):
    key = create_api_key(ingest_server)
    work = batches()
    # Interleaved across senders, so repeats and their first sendings are in flight at the same time.
    shares = [work[sender::SENDERS] for sender in range(SENDERS)]

    def send(share: list[list[dict]]) -> list[dict]:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {key}"
            return [http.post(ingest_server.url + "/api/v1/events", json={"transactions": batch}, timeout=60).json()
                    for batch in share]

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        answers = [answer for share in pool.map(send, shares) for answer in share]
    assert sum(answer["accepted"] for answer in answers) == UNIQUE_IDS + REPEATS
    assert all(answer["rejected"] == 0 for answer in answers)

    admin = login_session(ingest_server)
    export = admin.get(ingest_server.url + "/admin/api/export/transactions.csv", timeout=60).text
    rows = list(csv.DictReader(io.StringIO(export)))
    assert len(rows) == UNIQUE_IDS
    assert len({row["id"] for row in rows}) == UNIQUE_IDS

    flow = admin.get(ingest_server.url + "/admin/api/transactions/flow", timeout=30).json()
    by_status = {entry["status"]: entry for entry in flow["statuses"]}
    assert flow["total_count"] == UNIQUE_IDS
    for status in STATUSES:
        stored = [Decimal(row["amount"]) for row in rows if row["status"] == status]
        assert by_status[status]["count"] == len(stored), status
        assert Decimal(by_status[status]["amounts"]["USD"]) == sum(stored), status
