"""Serve Pulseboard: `python app.py` (what `make run` and `make serve` do)."""
import os
import warnings
from pathlib import Path

from dotenv import load_dotenv

# The one place `.env` is read: before the async mode below is chosen and before config reads the environment.
load_dotenv(Path(__file__).resolve().parent / ".env")
# Eventlet is in maintenance mode upstream (see README); its import-time notice would greet every start.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
if __name__ == "__main__":
    # Before anything imports socket, threading, ssl or a database driver (STACK.md). Unpatched, gevent
    # serves the fan-out benchmark far slower (bench/fanout_modes.py).
    ASYNC_MODE = os.environ.get("SOCKETIO_ASYNC_MODE", "eventlet")
    if ASYNC_MODE == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif ASYNC_MODE == "gevent":
        from gevent import monkey

        monkey.patch_all()

import gc
import sys

from app_factory import create_app, start_background_work
from config import SettingError
from extensions import db, socketio
from services.accounts import users
from services.alerts import defaults
from services.realtime import eventlet_internals, websocket_transport
from services.runtime import migrations

try:
    app = create_app()
except SettingError as error:  # a misconfiguration deserves its message, not a traceback
    sys.exit(f"Pulseboard cannot start: {error}")


def prepare_server(async_mode: str, max_connections: int, websocket_transport_choice: str) -> dict:
    """Ready the async mode's web server and return its options; the only place that knows which server runs."""
    if async_mode == "eventlet":
        # minimum_chunk_size=0: eventlet.wsgi otherwise buffers a streamed response, and SSE looks dead.
        options = {"max_size": max_connections, "minimum_chunk_size": 0}
        # One greenlet per WebSocket instead of python-engineio's three, unless WEBSOCKET_TRANSPORT=upstream or
        # the installed libraries are not those it was verified with (then it logs why, once).
        if websocket_transport.install(websocket_transport_choice):
            options["protocol"] = eventlet_internals.http_protocol()  # its HTTP buffers are freed on upgrade
        return options
    if async_mode == "threading":
        return {"allow_unsafe_werkzeug": True}
    return {}


def prepare_database() -> str | None:
    """Upgrade the schema, make sure an admin exists and the default alert rules were offered; return a password
    generated just now."""
    migrations.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        password = users.ensure_admin(db.session, app.config["ADMIN_USERNAME"],
                                         app.config["ADMIN_PASSWORD"], app.config["PASSWORD_HASH_METHOD"])
        if app.config["ALERT_DEFAULT_RULES"]:
            defaults.install_once(db.session)
        db.session.commit()
    return password


def print_banner(password: str | None) -> None:
    url = f"http://{app.config['HOST']}:{app.config['PORT']}"
    lines = [f"Pulseboard is serving on {url}/admin/dashboard", f"  username: {app.config['ADMIN_USERNAME']}"]
    if password:
        lines.append(f"  password: {password}")
    elif app.config["ADMIN_PASSWORD"]:
        lines.append("  password: the ADMIN_PASSWORD you configured")
    else:
        lines.append("  password: the one printed when this database was first set up")
    print("\n".join(lines), flush=True)


def main() -> None:
    password = prepare_database()
    print_banner(password)
    start_background_work(app)
    # Everything loaded so far lives as long as the process: keep it out of the collector's full passes,
    # which otherwise stall a request for tens of milliseconds now and then (seen in the API benchmark).
    gc.freeze()
    mode = app.config["SOCKETIO_ASYNC_MODE"]
    socketio.run(app, host=app.config["HOST"], port=app.config["PORT"], use_reloader=False, log_output=False,
                 **prepare_server(mode, app.config["MAX_CONNECTIONS"], app.config["WEBSOCKET_TRANSPORT"]))


if __name__ == "__main__":
    sys.exit(main())
