"""create_app(config): the Flask app with its extensions, blueprints, error handlers and commands."""
from functools import partial

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import admin, admin_api, auth, ingest, probes, stream
from blueprints.admin_api.receivers import DELIVERY_WORKER
from blueprints.commands import register_commands
from blueprints.database_errors import register_database_errors
from blueprints.flask_internals import RoutedRequest
from blueprints.http import SecureWhenHttpsSessionInterface, register_error_handlers
from blueprints.stream.sockets import NAMESPACE, evict, unsent
from config import INSTANCE_DIR, Config, check_choice, resolve_secret_key
from database import utcnow
from extensions import csrf, db, limiter, login_manager, socketio
from services.accounts import api_keys, users
from services.alerts.delivery_worker import DeliveryWorker
from services.alerts.evaluator import Evaluator
from services.alerts.evaluator import Settings as EvaluatorSettings
from services.alerts.fence import Fence
from services.cache.circuit_breaker import CircuitOpenError, read_through
from services.cluster import registry
from services.cluster.connection import key
from services.cluster.shared_cache import SharedCache
from services.dashboard.reads import ReadContext, first_page_loaders
from services.demo.traffic import DemoTraffic
from services.realtime import websocket_transport
from services.realtime.broadcaster import LiveBroadcaster
from services.realtime.fanout import Fanout
from services.runtime.jobs import Job, JobRunner, standard_jobs
from services.runtime.process import build_runtime

DEMO_KEY_NAME = "demo-traffic"


def create_app(config_class: type = Config) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(config_class)
    app.config["SECRET_KEY"] = resolve_secret_key(app.config["SECRET_KEY"], app.config["HOST"], INSTANCE_DIR)
    check_choice("WEBSOCKET_TRANSPORT", app.config["WEBSOCKET_TRANSPORT"], websocket_transport.CHOICES)
    check_choice("INGEST_WRITER", app.config["INGEST_WRITER"], ("process", "inline"))
    register_runtime(app)
    register_proxies(app)
    register_extensions(app)
    register_realtime(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_database_errors(app)
    register_commands(app)
    return app


def register_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES proxies (nginx in a cluster), the client's address and scheme are the forwarded ones."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    # One Socket.IO channel per cluster, like its keys: two clusters (or two tests) on one Redis stay apart.
    socketio.init_app(app, async_mode=app.config["SOCKETIO_ASYNC_MODE"],
                      message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"], channel=key(app.config["CLUSTER_NAME"], "socketio"),
                      ping_interval=app.config["SOCKETIO_PING_INTERVAL"], ping_timeout=app.config["SOCKETIO_PING_TIMEOUT"])
    app.session_interface = SecureWhenHttpsSessionInterface()


def register_runtime(app: Flask) -> None:
    """The process's long-lived services, and the request monitor around the Flask app.

    Before Socket.IO's middleware wraps the app: it copies the environ (so the monitor would not see the
    request Flask leaves in it) and Socket.IO traffic is not a request worth timing anyway.
    """
    services = build_runtime(app.config)
    app.extensions["runtime"] = services
    app.extensions[registry.CLUSTER] = registry.join(services, app.config)
    app.wsgi_app = services.monitor.wsgi_middleware(app.wsgi_app)
    app.request_class = RoutedRequest


def register_realtime(app: Flask) -> None:
    """The Socket.IO fan-out of the hub; its loop starts with the server (start_background_work).

    Its emits skip the message queue: every process pushes the cluster's stream to its own clients (fanout.py).
    """
    services = app.extensions["runtime"]
    services.fanout = Fanout(
        services.hub, services.presence, emit=partial(socketio.emit, namespace=NAMESPACE, ignore_queue=True),
        enter_room=lambda sid, room: socketio.server.enter_room(sid, room, namespace=NAMESPACE), sleep=socketio.sleep,
        backlog=unsent, evict=evict)


@login_manager.user_loader
def load_user(user_id: str) -> users.SessionUser | None:
    """The session's user, cached briefly, so logged-in admins keep reading while the database is down."""
    services = current_app.extensions["runtime"]
    try:
        user, _ = read_through(services.cache, services.breaker, "accounts", int(user_id),
                               lambda: users.session_user(db.session, int(user_id)))
    except (CircuitOpenError, *services.breaker.trip_on):
        return None
    return user if user is not None and user.active else None


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(admin_api.bp, url_prefix="/admin/api")
    app.register_blueprint(ingest.bp, url_prefix="/api/v1")
    app.register_blueprint(stream.bp, url_prefix="/admin/api")


def start_background_work(app: Flask) -> JobRunner:
    """Start the process's background jobs (and the demo sender); only the server does this, never tests or the CLI."""
    services = app.extensions["runtime"]
    runner = JobRunner(services, db.session, socketio.start_background_task, socketio.sleep)
    # Every server process sends webhooks (a conditional claim keeps two from sending one row); views wake it.
    app.extensions[DELIVERY_WORKER] = DeliveryWorker(db.session, app.config, socketio.start_background_task, socketio.sleep)
    app.extensions[DELIVERY_WORKER].start()
    cluster = app.extensions[registry.CLUSTER]
    cluster.start(socketio.start_background_task, socketio.sleep)
    share_cache(app)
    # The leader (the one process without a message queue) broadcasts, evaluates alerts and maintains the tables.
    broadcaster = LiveBroadcaster(services, services.presence, app.config["LIVE_UPDATE_INTERVAL"], cluster)
    alert_loop = Evaluator(services, EvaluatorSettings.of(app.config), is_evaluator=cluster.is_leader,
                           wake_delivery=app.extensions[DELIVERY_WORKER].wake, pause=lambda: socketio.sleep(0),
                           slices=app.config["ALERT_EVALUATION_SLICES"], fence=evaluator_fence(cluster))
    runner.start(standard_jobs(services, app.config, cluster.is_leader)
                 + [Job("live_update", app.config["LIVE_UPDATE_INTERVAL"], lambda session: broadcaster.tick(session, utcnow())),
                    Job("alert_evaluation", app.config["ALERT_EVALUATION_INTERVAL"] / alert_loop.slices, alert_loop.run)])
    for task in services.hub.background_tasks():  # the cluster stream's tail
        socketio.start_background_task(task)
    socketio.start_background_task(services.fanout.run)
    if app.config["DEMO"]:
        start_demo_traffic(app)
    return runner


def evaluator_fence(cluster) -> Fence | None:
    """The leader's fencing token for the alert evaluator's writes (None while not leading), which its lease can raise
    above the database's; None for a process alone, whose passes need no fencing and pay no extra write."""
    if isinstance(cluster, registry.SoloCluster):
        return None

    def token() -> int | None:
        fence = cluster.fence()
        return fence[1] if fence else None
    return Fence(token, cluster.lease.raise_fence_above)


def share_cache(app: Flask) -> None:
    """With a message queue, a cache clear or preload in this process reaches every process of the cluster."""
    if not app.config["SOCKETIO_MESSAGE_QUEUE"]:
        return
    services = app.extensions["runtime"]

    def preload_here() -> None:
        with app.app_context():
            services.cache.preload(first_page_loaders(ReadContext(db.session, services, utcnow())), propagate=False)

    cluster = app.extensions[registry.CLUSTER]
    shared = SharedCache(services.cache, cluster.redis, app.config["CLUSTER_NAME"], cluster.name, preload_here)
    socketio.start_background_task(shared.listen, socketio.sleep)


def start_demo_traffic(app: Flask) -> None:
    """Feed the panel through its own public ingest API, with a key of its own (replacing the last run's)."""
    with app.app_context():
        key = api_keys.replace_api_key(db.session, DEMO_KEY_NAME)
        db.session.commit()
    host = app.config["HOST"] if app.config["HOST"] not in ("0.0.0.0", "::", "") else "127.0.0.1"
    sender = DemoTraffic(f"http://{host}:{app.config['PORT']}", key, sleep=socketio.sleep)
    socketio.start_background_task(sender.run)
