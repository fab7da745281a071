"""Schemathesis drives a real server from its own OpenAPI document: every operation, every phase, no 5xx.

`make test` runs at most PULSEBOARD_FUZZ_EXAMPLES=20 cases per operation and phase with a fixed seed (about
75 s); `make fuzz` runs 200 with a fresh seed, and prints the run ("Seed:" reproduces it). The run logs in as an
admin of its own and ingests with its own key; the hooks keep the fuzzer from changing, deleting or revoking
those (or the first admin), so nothing it does can lock it out.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from database import Alert, create_database_engine
from services.openapi import spec
from tests.servers import LIVE_ADMIN, login_session, start_server

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
FUZZER = ("fuzzer", "fuzzer-password-1")
EXAMPLES = int(os.environ.get("PULSEBOARD_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("PULSEBOARD_FUZZ_SEED", "20261203")  # "random" (make fuzz): schemathesis picks and prints one
EXCLUDED_PATHS = ["/admin/api/stream"]  # an endless event stream; its parameters have their own tests


@pytest.fixture
def fuzz_target(tmp_path):
    """A server, an admin session and API key for the fuzzer, and the ids the fuzzer must not touch."""
    server = start_server(tmp_path, ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1],
                          WEBHOOK_TIMEOUT_SECONDS="1")
    admin = login_session(server)
    users = {name: create(admin, server, "/admin/api/users", username=name, password=password, role=role)["id"]
             for name, password, role in [(*FUZZER, "admin"), ("fuzz-decoy", "decoy-password", "viewer")]}
    users |= {user["username"]: user["id"] for user in admin.get(server.url + "/admin/api/users", timeout=5).json()["users"]}
    fuzzer = login_session(server, *FUZZER)
    key = create(fuzzer, server, "/admin/api/api-keys", name="fuzzer")
    decoy_key = create(fuzzer, server, "/admin/api/api-keys", name="fuzz-decoy")
    steering = {"user_id": {"keep": [users[LIVE_ADMIN[0]], users[FUZZER[0]]], "decoy": users["fuzz-decoy"]},
                "key_id": {"keep": [key["id"]], "decoy": decoy_key["id"]}}
    seed(server, key["key"])
    yield server, fuzzer, key["key"], steering
    server.stop()


def seed(server, key: str) -> None:
    """Rows for the reads to work on, and alerts to acknowledge (only the rule engine raises them, directly)."""
    batch = {"transactions": [{"id": f"fuzz-{n}", "amount": "9.99", "currency": "EUR", "status": "completed",
                               "user_id": f"u-{n}"} for n in range(20)],
             "activities": [{"user_id": f"u-{n}", "action": "login"} for n in range(20)],
             "metrics": [{"name": "fuzz.latency", "value": n, "tags": {"region": "eu"}} for n in range(20)]}
    answer = requests.post(server.url + "/api/v1/events", json=batch, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 202, answer.text
    engine = create_database_engine(server.env["DATABASE_URL"])
    with Session(engine) as session:
        session.add_all(Alert(state="firing", severity="critical", message=f"fuzz {n}") for n in range(10))
        session.commit()
    engine.dispose()


def create(session: requests.Session, server, path: str, **body) -> dict:
    response = session.post(server.url + path, json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def schemathesis_command(server, session: requests.Session, key: str) -> list[str]:
    return [str(ST), "run", f"{server.url}/admin/api/openapi.json", "--url", server.url,
            "--phases", "examples,coverage,fuzzing,stateful", "--checks", "not_a_server_error",
            "--max-examples", str(EXAMPLES), *(["--seed", SEED] if SEED != "random" else []), "--workers", "1", "--no-color",
            "-H", f"Cookie: session={session.cookies['session']}", "-H", f"X-CSRFToken: {session.csrf}",
            "-H", f"Authorization: Bearer {key}",
            *[option for path in EXCLUDED_PATHS for option in ("--exclude-path", path)]]


def test_no_generated_request_gets_a_server_error(fuzz_target, tmp_path):
    server, fuzzer, key, steering = fuzz_target
    env = os.environ | {"SCHEMATHESIS_HOOKS": str(HERE / "hooks.py"), "PULSEBOARD_FUZZ_STEERING": json.dumps(steering)}
    run = subprocess.run(schemathesis_command(server, fuzzer, key), env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300 + 30 * EXAMPLES)
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Traceback" not in server.output(), server.output()[-20000:]
    # The run stayed logged in and keyed to the end, so every case reached the API's logic.
    assert fuzzer.get(server.url + "/admin/api/users", timeout=5).status_code == 200
    ingest = requests.post(server.url + "/api/v1/events", json={"metrics": [{"name": "fuzz.done", "value": 1}]},
                           headers={"Authorization": f"Bearer {key}"}, timeout=5)
    assert ingest.status_code == 202, ingest.text
    login_session(server)  # the first admin can still log in
    # Every operation but the excluded ones and the document itself, which schemathesis reads rather than tests.
    operations = sum(len(methods) for methods in spec.document()["paths"].values()) - len(EXCLUDED_PATHS) - 1
    assert re.search(r"Test cases:\s+\d+ generated", run.stdout)
    assert re.search(r"Tested:\s+(\d+)", run.stdout).group(1) == str(operations), run.stdout[-3000:]
