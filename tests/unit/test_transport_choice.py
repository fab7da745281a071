"""websocket_transport.install(): the fast transport on the library versions it was verified with and only
there; otherwise python-engineio's own, with one warning that says why. The real server: tests/e2e."""
import logging
from importlib.metadata import version

import engineio
import pytest
from eventlet.websocket import RFC6455WebSocket

from services.realtime import engineio_internals, eventlet_internals, websocket_transport

Socket = engineio_internals.Socket
LOGGER = websocket_transport.log.name


@pytest.fixture
def socket_class(monkeypatch):
    """python-engineio's Socket methods as they are now, put back after the test whatever install() did."""
    for name in engineio_internals.REPLACED:
        monkeypatch.setattr(Socket, name, getattr(Socket, name))
    monkeypatch.setattr(Socket, "frames", None, raising=False)
    monkeypatch.setattr(engineio_internals, "transport", {})
    return {name: getattr(Socket, name) for name in engineio_internals.REPLACED}


def pretend_version(monkeypatch, **versions) -> None:
    """What importlib.metadata reports to the transport, by package name (underscores for dashes)."""
    pretended = {name.replace("_", "-"): value for name, value in versions.items()}
    monkeypatch.setattr(websocket_transport, "version", lambda package: pretended.get(package) or version(package))


def warnings_of(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER and record.levelno >= logging.WARNING]


def assert_upstream_runs(socket_class) -> None:
    assert {name: getattr(Socket, name) for name in engineio_internals.REPLACED} == socket_class


def test_the_pinned_python_engineio_is_the_version_the_transport_was_verified_with():
    # install() leaves any other version alone; a new release needs these replacements checked against it
    assert version("python-engineio").startswith(engineio_internals.VERIFIED_VERSION)


def test_the_pinned_eventlet_is_the_version_the_transport_was_verified_with():
    assert version("eventlet").startswith(eventlet_internals.VERIFIED_VERSION)


@pytest.mark.parametrize("library", websocket_transport.LIBRARIES, ids=lambda library: library.PACKAGE)
def test_the_pinned_libraries_have_everything_the_transport_uses(library):
    assert websocket_transport.unmet_by(library) == []


def test_on_the_verified_versions_install_replaces_the_socket_methods_quietly(socket_class, caplog):
    assert websocket_transport.install("fast") is True
    assert Socket.send is engineio_internals.send and Socket.close is engineio_internals.close
    assert Socket.schedule_ping is engineio_internals.schedule_ping
    assert Socket._websocket_handler is engineio_internals.websocket_handler
    assert warnings_of(caplog) == []


@pytest.mark.parametrize("package", ["python-engineio", "eventlet"])
def test_an_unknown_version_of_either_library_leaves_upstream_with_one_warning(socket_class, caplog, monkeypatch,
                                                                               package):
    pretend_version(monkeypatch, **{package: "99.0.0"})
    assert websocket_transport.install("fast") is False
    assert_upstream_runs(socket_class)
    [warning] = warnings_of(caplog)
    assert "fall back to python-engineio's own transport" in warning and f"{package} is 99.0.0" in warning


def test_both_libraries_unknown_still_make_one_warning_naming_both(socket_class, caplog, monkeypatch):
    pretend_version(monkeypatch, python_engineio="4.16.0", eventlet="0.42.0")
    assert websocket_transport.install("fast") is False
    [warning] = warnings_of(caplog)
    assert "python-engineio is 4.16.0" in warning and "eventlet is 0.42.0" in warning


@pytest.mark.parametrize(("owner", "name"), [(Socket, "receive"), (engineio.Server, "_trigger_event")])
def test_a_missing_python_engineio_method_leaves_upstream(socket_class, caplog, monkeypatch, owner, name):
    monkeypatch.delattr(owner, name)
    assert websocket_transport.install("fast") is False
    assert_upstream_runs(socket_class)
    [warning] = warnings_of(caplog)
    assert f"python-engineio {version('python-engineio')} has no {owner.__name__}.{name}" in warning


def test_a_websocket_without_eventlet_s_send_lock_leaves_upstream(socket_class, caplog, monkeypatch):
    """As a release that renamed the lock would: the attribute exists only once __init__ has run."""
    made = RFC6455WebSocket.__init__

    def without_send_lock(self, *args, **kwargs):
        made(self, *args, **kwargs)
        del self._sendlock

    monkeypatch.setattr(RFC6455WebSocket, "__init__", without_send_lock)
    assert websocket_transport.install("fast") is False
    assert_upstream_runs(socket_class)
    [warning] = warnings_of(caplog)
    assert f"eventlet {version('eventlet')} has no RFC6455WebSocket._sendlock" in warning


def test_objects_that_cannot_be_made_to_check_leave_upstream(socket_class, caplog, monkeypatch):
    def changed_constructor():
        raise TypeError("RFC6455WebSocket() takes 2 arguments")

    monkeypatch.setattr(eventlet_internals, "probes", changed_constructor)
    assert websocket_transport.install("fast") is False
    [warning] = warnings_of(caplog)
    assert "failed to make the objects to check" in warning and "takes 2 arguments" in warning


def test_choosing_upstream_checks_nothing_and_warns_of_nothing(socket_class, caplog, monkeypatch):
    pretend_version(monkeypatch, eventlet="0.99.0")
    assert websocket_transport.install("upstream") is False
    assert_upstream_runs(socket_class)
    assert warnings_of(caplog) == []


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="WEBSOCKET_TRANSPORT must be fast or upstream, not 'quick'"):
        websocket_transport.install("quick")
