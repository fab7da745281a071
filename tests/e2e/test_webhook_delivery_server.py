"""The real server's delivery worker: a row queued in the database (as the evaluation loop queues one) is sent
by the running server; a dead letter retried through the API goes out again."""
import time

from sqlalchemy.orm import Session

from database import Delivery, create_database_engine
from tests.servers import LIVE_ADMIN, login_session
from tests.webhook_receiver import WebhookReceiver


def deliveries(session, server, receiver_id: int) -> list[dict]:
    return session.get(f"{server.url}/admin/api/receivers/{receiver_id}/deliveries", timeout=5).json()["deliveries"]


def wait_for_status(session, server, receiver_id: int, status: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [row] = deliveries(session, server, receiver_id)
        if row["status"] == status:
            return row
        time.sleep(0.1)
    raise AssertionError(f"the delivery is {row}, not {status}, after {timeout} s")


def test_the_server_sends_queued_rows_and_retried_dead_letters(server_factory):
    server = server_factory(ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1])
    admin = login_session(server)
    with WebhookReceiver(statuses=[400, 200]) as hook:
        receiver = admin.post(f"{server.url}/admin/api/receivers", json={"name": "ops", "url": hook.url},
                              timeout=5).json()["receiver"]
        engine = create_database_engine(server.env["DATABASE_URL"])
        with Session(engine) as session:
            session.add(Delivery(receiver_id=receiver["id"], kind="firing", payload={"status": "firing", "alerts": []}))
            session.commit()
        engine.dispose()
        dead = wait_for_status(admin, server, receiver["id"], "dead")
        assert (dead["attempts"], dead["last_status_code"]) == (1, 400)
        assert admin.post(f"{server.url}/admin/api/deliveries/{dead['id']}/retry", timeout=5).status_code == 200
        delivered = wait_for_status(admin, server, receiver["id"], "delivered")
    assert (delivered["attempts"], delivered["last_status_code"]) == (1, 200)
    assert hook.bodies == [{"status": "firing", "alerts": []}] * 2
    assert "Traceback" not in server.output() and "delivery pass failed" not in server.output()
