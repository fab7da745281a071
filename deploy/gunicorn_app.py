"""The gunicorn alternative to `python app.py` for one cluster process (README "Scale-out"):

    PORT=5001 gunicorn -k eventlet -w 1 --worker-connections 20000 -b 127.0.0.1:5001 deploy.gunicorn_app:app

Exactly one worker per process: a Socket.IO session lives in one process's memory. gunicorn 25.x, whose eventlet
worker monkey-patches before it imports this module; releases from 26 on have no eventlet worker.
"""
import eventlet.wsgi

from app import app, prepare_database, prepare_server, print_banner
from app_factory import start_background_work

# gunicorn's worker passes eventlet.wsgi no minimum_chunk_size: SSE frames would wait in a 4 KB buffer (STACK.md).
eventlet.wsgi.HttpProtocol.minimum_chunk_size = 0
prepare_server(app.config["SOCKETIO_ASYNC_MODE"], app.config["MAX_CONNECTIONS"], app.config["WEBSOCKET_TRANSPORT"])
print_banner(prepare_database())
start_background_work(app)
