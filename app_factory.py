"""create_app(config): the Flask app with its extensions, blueprints, error handlers and commands."""
from flask import Flask

from blueprints import admin, admin_api, auth, probes
from blueprints.commands import register_commands
from blueprints.http import SecureWhenHttpsSessionInterface, register_error_handlers
from config import INSTANCE_DIR, Config
from database import User
from extensions import csrf, db, limiter, login_manager, socketio


def create_app(config_class: type = Config) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(config_class)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    socketio.init_app(app, async_mode=app.config["SOCKETIO_ASYNC_MODE"],
                      message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"])
    app.session_interface = SecureWhenHttpsSessionInterface()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(admin_api.bp, url_prefix="/admin/api")
