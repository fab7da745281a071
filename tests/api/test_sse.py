"""GET /admin/api/stream's parameters through the Flask test client (its frames are tested in tests/unit/test_hub.py
and against a real server in tests/e2e)."""
import pytest


def first_frame(client, **params) -> str:
    response = client.get("/admin/api/stream", query_string=params, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    frame = next(response.response)
    response.close()
    return frame.decode() if isinstance(frame, bytes) else frame


@pytest.mark.parametrize("last_event_id", ["abc", "e1:", ":5", "e:1:2", "9" * 5000, str(2**63), "e1:-4", "²", "e1:1.5",
                                           "e 1:5", "\x00", "e" * 65 + ":1"])
def test_an_event_id_the_server_cannot_read_is_a_400_naming_the_parameter(admin, client, last_event_id):
    for request in ({"query_string": {"last_event_id": last_event_id}}, {"headers": {"Last-Event-ID": last_event_id}}):
        response = client.get("/admin/api/stream", **request)
        assert response.status_code == 400, request
        error = response.json["error"]
        assert error["details"] == {"parameter": "last_event_id"} and "<epoch>:<seq>" in error["message"]


def test_a_live_start_names_the_epoch_and_seq_it_starts_at(app, admin, client):
    hub = app.extensions["runtime"].hub
    assert first_frame(client) == f"retry: 3000\nid: {hub.epoch}:{hub.latest_seq}\n\n"


@pytest.mark.parametrize("last_event_id", ["0", "e-1_A:0", f"x:{2**63 - 1}"])
def test_event_ids_old_and_new_are_accepted(admin, client, last_event_id):
    assert first_frame(client, last_event_id=last_event_id) == "retry: 3000\n\n"
