"""The WebSocket transports a real server can run (WEBSOCKET_TRANSPORT), so the real-time tests run under each."""
import os
from pathlib import Path

TRANSPORTS = ("fast", "upstream")
FALLBACK_WARNING = "WebSockets fall back to python-engineio's own transport"
VERSION_HOOK = Path(__file__).resolve().parent / "version_hook"


def pretending(package: str, version: str) -> dict:
    """Settings that start a server which sees `version` of the installed `package` (version_hook/sitecustomize.py)."""
    path = os.pathsep.join(filter(None, [str(VERSION_HOOK), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "PRETEND_VERSION": f"{package}=={version}"}
