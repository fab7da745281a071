"""One small JSON app served by eventlet.wsgi: `python -m bench.monitor_app plain|ours|fmd PORT WORKDIR`."""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known (STACK.md)
import eventlet  # noqa: E402
import eventlet.wsgi  # noqa: E402

eventlet.monkey_patch()  # before Flask, threading or any database driver is imported (STACK.md)

import ctypes  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from flask import Flask, jsonify  # noqa: E402

MAX_LIFETIME_S = 900  # stop by itself even if the benchmark that started it dies without stopping it


def plain_app() -> Flask:
    app = Flask("bench_small_json")
    app.config["SECRET_KEY"] = "bench"

    @app.get("/ping")
    def ping():
        return jsonify(status="ok", items=[1, 2, 3])

    return app


def with_our_monitor(app: Flask) -> Flask:
    """Exactly what app_factory.register_runtime adds: the WSGI timer and the request class naming the route."""
    from blueprints.flask_internals import RoutedRequest
    from services.monitoring.performance import RequestMonitor

    app.wsgi_app = RequestMonitor("bench", os.getpid()).wsgi_middleware(app.wsgi_app)
    app.request_class = RoutedRequest
    return app


def with_fmd(app: Flask, workdir: str) -> Flask:
    """Flask-MonitoringDashboard at its default monitoring level, with its own SQLite file."""
    import flask_monitoringdashboard as dashboard

    dashboard.config.database_name = f"sqlite:///{workdir}/fmd.db"  # read when its database module is imported
    dashboard.bind(app)
    return app


def build(variant: str, workdir: str) -> Flask:
    # Monitor off means the same process without the monitor installed: importing Pulseboard's modules
    # alone (SQLAlchemy, the extensions) costs the small app 3-4% of its requests/s, and that is not the
    # monitor's cost. Flask-MonitoringDashboard is compared against the same baseline.
    import blueprints.http  # noqa: F401
    import services.monitoring.performance  # noqa: F401

    app = plain_app()
    if variant == "ours":
        return with_our_monitor(app)
    if variant == "fmd":
        return with_fmd(app, workdir)
    return app


def main() -> None:
    variant, port, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with the benchmark
    eventlet.spawn_after(MAX_LIFETIME_S, os._exit, 0)
    app = build(variant, workdir)
    # As app.py does after start-up: "ours" imports the whole Pulseboard package, and without this the
    # collector's full passes over those long-lived objects would be charged to the monitor.
    gc.freeze()
    eventlet.wsgi.server(eventlet.listen(("127.0.0.1", port)), app, log_output=False)


if __name__ == "__main__":
    main()
