"""Makes a server process see another version of one installed package: PRETEND_VERSION="eventlet==0.99.0".

Python imports `sitecustomize` at start-up from its path; tests put this folder first on PYTHONPATH of a
`python app.py` they start (tests/e2e/transports.py). The server runs unchanged, with the real package;
only what importlib.metadata reports for it differs, which is all a library upgrade changes for the
WebSocket transport's version check. Its attribute checks are tested in tests/unit/test_transport_choice.py.
"""
import importlib.metadata
import os

package, _, pretended = os.environ.get("PRETEND_VERSION", "").partition("==")
if package:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return pretended if name == package else real_version(name)

    importlib.metadata.version = version
