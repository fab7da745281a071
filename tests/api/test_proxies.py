"""Behind TRUSTED_PROXIES proxies (make cluster's nginx) the client is the address the proxy forwards: the audit
log records it and login limits count it, not the proxy's; with none trusted, a forged header changes nothing."""
import pytest

from tests.conftest import last_audit


@pytest.fixture
def app_settings():
    return {"TRUSTED_PROXIES": 1}


def fail_login(auth, username: str, forwarded_for: str) -> int:
    auth.client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return auth.login(username, "wrong").status_code


def test_the_audit_log_records_the_forwarded_client(auth):
    auth.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    auth.login()
    assert last_audit(auth.client, "login")["remote_addr"] == "203.0.113.7"


def test_failed_logins_count_per_forwarded_client(auth):
    # A username each time: the per-username limit stays out of it, only the per-client one is tested.
    assert [fail_login(auth, f"user{n}", "203.0.113.7") for n in range(6)] == [200] * 5 + [429]
    assert fail_login(auth, "another", "198.51.100.9") == 200


@pytest.mark.parametrize("app_settings", [{"TRUSTED_PROXIES": 0}])
def test_without_a_trusted_proxy_the_header_is_ignored(auth):
    auth.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    auth.login()
    assert last_audit(auth.client, "login")["remote_addr"] == "127.0.0.1"
