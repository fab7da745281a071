"""Shared by the fault tests: senders that remember what the server acknowledged, and the database read directly."""
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import requests
from sqlalchemy import create_engine, func, select

from database import RevenueRollup, Transaction
from tests.servers import ServerProcess, spawn

STATUSES = ["completed", "pending", "failed", "refunded"]


def batch(tag: str, size: int = 20) -> dict[str, dict]:
    """`size` transactions with ids unique to `tag`, each with its own amount: id -> item."""
    items = {}
    for n in range(size):
        external_id = f"{tag}-{n}"
        items[external_id] = {"id": external_id, "amount": f"{n + 1}.{(len(tag) * 7 + n) % 100:02d}",
                              "currency": "USD", "status": STATUSES[n % 4], "user_id": f"u-{n % 5}"}
    return items


def post(url: str, key: str, items: dict[str, dict], timeout: float = 15) -> requests.Response:
    return requests.post(url + "/api/v1/events", json={"transactions": list(items.values())},
                         headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


@dataclass
class Sender:
    """Posts batches until stopped or until the server stops answering; sorts every item by the answer it got.
    With `through_unavailable`, a 503 (which may come after the batch was stored) is noted and sending goes on."""

    url: str
    key: str
    name: str
    through_unavailable: bool = False
    acked: dict = field(default_factory=dict)
    unanswered: dict = field(default_factory=dict)
    other_answers: list = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        number = 0
        while not stop.is_set():
            items = batch(f"{self.name}-{number}")
            try:
                response = session.post(self.url + "/api/v1/events", json={"transactions": list(items.values())},
                                        timeout=15)
            except requests.RequestException:
                self.unanswered.update(items)
                return
            if response.status_code == 202 and response.json()["accepted"] == len(items):
                self.acked.update(items)
            elif response.status_code == 503 and self.through_unavailable:
                self.unanswered.update(items)
            else:
                self.other_answers.append((response.status_code, response.text[:300]))
                return
            number += 1


def restart(server: ServerProcess) -> ServerProcess:
    """A new server process on the same database and settings (on a new port)."""
    return spawn([sys.executable, "app.py"], server.log_path.parent, server.env)


def amount_e4(item: dict) -> int:
    return int(Decimal(item["amount"]) * 10000)


def stored(database_url: str) -> dict[str, tuple[int, str]]:
    """Every stored transaction, read from the database itself: external id -> (amount_e4, status)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Transaction.external_id, Transaction.amount_e4, Transaction.status))
            return {external_id: (amount, status) for external_id, amount, status in rows}
    finally:
        engine.dispose()


def rollup_totals(database_url: str) -> dict[str, tuple[int, int]]:
    """Per status, (count, amount_e4) as the hourly rollups that ingest keeps say."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(RevenueRollup.status, func.sum(RevenueRollup.count),
                                             func.sum(RevenueRollup.amount_e4)).group_by(RevenueRollup.status))
            return {status: (int(count), int(amount)) for status, count, amount in rows}
    finally:
        engine.dispose()


def assert_stored_exactly(database_url: str, acked: dict[str, dict], maybe: dict[str, dict] = None) -> dict:
    """Every acknowledged item stored with its amount; nothing else but items that may have been; rollups agree."""
    rows = stored(database_url)
    missing = [external_id for external_id in acked if external_id not in rows]
    assert not missing, f"{len(missing)} acknowledged items lost, e.g. {missing[:5]}"
    for external_id, item in acked.items():
        assert rows[external_id] == (amount_e4(item), item["status"]), external_id
    unexpected = set(rows) - set(acked) - set(maybe or {})
    assert not unexpected, f"stored but never sent: {sorted(unexpected)[:5]}"
    totals: dict[str, tuple[int, int]] = {}
    for amount, status in rows.values():
        count, total = totals.get(status, (0, 0))
        totals[status] = (count + 1, total + amount)
    assert rollup_totals(database_url) == totals
    return rows


def assert_no_traceback(server: ServerProcess) -> None:
    output = server.output()
    assert "Traceback" not in output, output[-4000:]


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result
