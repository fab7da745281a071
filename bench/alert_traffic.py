"""What bench.alerts evaluates: a busy installation's traffic, stored the way the server stores it, and a mix of
alert rules over it.

`Traffic` stores everything that happens in a span of time: custom metrics (100 names, 2 to 4 tag sets each),
transactions and activities through the ingest path (parse_batch + store_batch), requests through the request
monitor and its flush, host samples each second (two hosts) rolled up to minutes as maintenance does. It first
fills the history, then tops up before each pass, so windows always end in current data, as on a live server.
"""
import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from database import utcnow
from services.ingest import event_schema, writer
from services.monitoring import host_sampler, performance

METRIC_NAMES = [f"svc.metric{index}" for index in range(100)]
HOSTS = ("web-0", "web-1")
ENDPOINTS = ["/api/v1/events", "/admin/api/health", "/admin/api/alerts", "/admin/api/metrics/live",
             "/admin/api/transactions", "/admin/api/metrics/host", "/admin/api/alert-rules", "/login"]
PER_MINUTE = {"transactions": 200, "activities": 300, "requests": 480}
FIRING_SHARE = 0.02
# Custom metric values are uniform over 0..100: (comparator, a quiet threshold, a firing one) per aggregation.
METRIC_THRESHOLDS = {"avg": (">", 90, 10), "max": (">", 150, 50), "p95": (">", 120, 50), "p99": (">", 120, 50),
                     "min": ("<", -10, 50), "sum": (">", 1e9, 10), "count": (">", 1e8, 1)}
HOST_THRESHOLDS = {"cpu": 100, "memory": 99, "disk": 99, "load": 50}
ENDPOINT_THRESHOLDS = {"p95": 5000, "p99": 10000, "avg": 2000, "error_rate": 0.5, "rps": 1e6}
BUSINESS_THRESHOLDS = {"revenue": ("<", 1, 1e12), "failure_rate": (">", 0.9, 0.01),
                       "transactions_per_minute": ("<", 1, 1e9), "active_users": ("<", 1, 1e9)}


class Traffic:
    def __init__(self, runtime, points_per_minute: int, since: datetime, seed: int = 14) -> None:
        self.runtime, self.points_per_minute, self.position = runtime, points_per_minute, since
        self.rng = random.Random(seed)
        self.transactions = 0
        self.host_template = host_sampler.HostSampler().take()

    def store_until(self, session: Session, end: datetime) -> None:
        """Store what happened from where the last call stopped until `end`, a minute at most per batch."""
        while self.position < end:
            start, self.position = self.position, min(end, self.position + timedelta(minutes=1))
            self._span(session, start, self.position)
        performance.flush(session, self.runtime.monitor.drain_completed(end.timestamp()))
        host_sampler.roll_up(session, "1m", end)
        session.commit()

    def _span(self, session: Session, start: datetime, end: datetime) -> None:
        minutes = (end - start).total_seconds() / 60
        points = [self._point(start, end) for _ in range(self._count(self.points_per_minute * minutes))]
        for offset in range(0, len(points), event_schema.MAX_BATCH_ITEMS):
            ingest(session, {"metrics": points[offset:offset + event_schema.MAX_BATCH_ITEMS]})
        ingest(session, {"transactions": [self._transaction(start, end)
                                          for _ in range(self._count(PER_MINUTE["transactions"] * minutes))],
                         "activities": [{"user_id": f"u{self.rng.randrange(2000)}", "action": "page_view", "path": "/shop",
                                         "session_id": f"s{self.rng.randrange(300)}", "timestamp": self._moment(start, end)}
                                        for _ in range(self._count(PER_MINUTE["activities"] * minutes))]})
        for _ in range(self._count(PER_MINUTE["requests"] * minutes)):
            self.runtime.monitor.record(self.rng.choice(ENDPOINTS), "GET", 500 if self.rng.random() < 0.01 else 200,
                                        self.rng.lognormvariate(3, 0.8), now=self._instant(start, end).timestamp())
        second = start.replace(microsecond=0) + timedelta(seconds=1 if start.microsecond else 0)
        while second < end:
            for host in HOSTS:
                host_sampler.store(session, self._host_sample(host, second))
            second += timedelta(seconds=1)

    def _count(self, expected: float) -> int:
        # Rounded at random, so that short top-ups add up to the rate.
        return int(expected) + (self.rng.random() < expected - int(expected))

    def _instant(self, start: datetime, end: datetime) -> datetime:
        return start + (end - start) * self.rng.random()

    def _moment(self, start: datetime, end: datetime) -> str:
        return self._instant(start, end).isoformat()

    def _point(self, start: datetime, end: datetime) -> dict:
        name = self.rng.randrange(len(METRIC_NAMES))
        host = self.rng.randrange(2 + name % 3)  # 2 to 4 tag sets a name
        return {"name": METRIC_NAMES[name], "value": round(self.rng.uniform(0, 100), 3),
                "timestamp": self._moment(start, end), "tags": {"host": f"web-{host}", "region": ("eu", "us")[host % 2]}}

    def _transaction(self, start: datetime, end: datetime) -> dict:
        self.transactions += 1
        return {"id": f"t-{self.transactions}", "amount": f"{self.rng.uniform(1, 300):.2f}",
                "currency": self.rng.choice(("USD", "EUR")), "status": self.rng.choice(("completed",) * 9 + ("failed",)),
                "user_id": f"u{self.rng.randrange(2000)}", "timestamp": self._moment(start, end)}

    def _host_sample(self, host: str, at: datetime) -> dict:
        template = self.host_template
        return {**template, "host": host, "ts": at.isoformat(),
                "cpu": {**template["cpu"], "percent": self.rng.uniform(20, 40), "load_avg": [1.0, 1.0, 1.0]},
                "memory": {**template["memory"], "percent": self.rng.uniform(50, 60)},
                "disk": {**template["disk"], "percent": 40.0}}


def ingest(session: Session, payload: dict) -> None:
    rows, errors = event_schema.parse_batch(payload, utcnow())
    if errors:
        raise RuntimeError(f"the benchmark's own items were refused: {errors[:3]}")
    writer.store_batch(session, rows)
    session.commit()


def rule_bodies(count: int, names: list[str], endpoints: list[str], seed: int = 9) -> list[dict]:
    """`count` rules, 85 % on custom metrics `names`, the rest on host, endpoint and business series;
    FIRING_SHARE of them with a threshold the data crosses, the others with one it never reaches."""
    rng = random.Random(seed)
    firing = set(rng.sample(range(count), max(1, round(count * FIRING_SHARE))))
    makers = {"metric": metric_rule, "host": host_rule, "endpoint": endpoint_rule, "business": business_rule}
    bodies = []
    for index in range(count):
        kind = rng.choices(tuple(makers), (85, 5, 5, 5))[0]
        body = makers[kind](rng, index in firing, names, endpoints)
        body |= {"name": f"bench rule {index}", "source": kind,
                 "window_seconds": body.get("window_seconds") or rng.choice((60, 120, 300, 600)),
                 "for_seconds": 0 if index in firing else rng.choice((0, 60, 120, 300)),
                 "severity": rng.choice(("info", "warning", "warning", "critical"))}
        if rng.random() < 0.3:
            body["annotations"] = {"summary": "{{ $labels.alertname }} at {{ $value }} (over {{ $threshold }})"}
        bodies.append(body)
    return bodies


def metric_rule(rng: random.Random, firing: bool, names: list[str], _endpoints) -> dict:
    aggregation = rng.choice(("avg", "avg", "max", "p95", "p99", "min", "sum", "count"))
    comparator, quiet, fires = METRIC_THRESHOLDS[aggregation]
    body = {"metric": rng.choice(names), "aggregation": aggregation, "comparator": comparator,
            "threshold": fires if firing else quiet}
    draw = rng.random()
    if draw < 0.3:
        body["group_by"] = ["host"]
    elif draw < 0.45:
        body["filters"] = {"host": rng.choice(HOSTS)}
    return body


def host_rule(rng: random.Random, firing: bool, _names, _endpoints) -> dict:
    metric = rng.choice(tuple(HOST_THRESHOLDS))
    return {"metric": metric, "aggregation": rng.choice(("avg", "max", "p95")), "comparator": ">",
            "threshold": 0.01 if firing else HOST_THRESHOLDS[metric], **({"group_by": ["host"]} if rng.random() < 0.5 else {})}


def endpoint_rule(rng: random.Random, firing: bool, _names, endpoints: list[str]) -> dict:
    metric = rng.choice(tuple(ENDPOINT_THRESHOLDS))
    draw = rng.random()
    scope = {"group_by": ["endpoint"]} if draw < 0.3 else {"filters": {"endpoint": rng.choice(endpoints)}} if draw < 0.7 else {}
    return {"metric": metric, "comparator": ">", "threshold": -1 if firing else ENDPOINT_THRESHOLDS[metric], **scope}


def business_rule(rng: random.Random, firing: bool, _names, _endpoints) -> dict:
    metric = rng.choice(tuple(BUSINESS_THRESHOLDS))
    comparator, quiet, fires = BUSINESS_THRESHOLDS[metric]
    return {"metric": metric, "comparator": comparator, "threshold": fires if firing else quiet,
            "window_seconds": rng.choice((300, 600))}
