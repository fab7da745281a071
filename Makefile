# Pulseboard: `make run` for a demo on http://127.0.0.1:5000, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENDOR := static/vendor
VENDOR_FILES := \
	node_modules/chart.js/dist/chart.umd.min.js \
	node_modules/chartjs-adapter-date-fns/dist/chartjs-adapter-date-fns.bundle.min.js \
	node_modules/chartjs-chart-matrix/dist/chartjs-chart-matrix.min.js \
	node_modules/hammerjs/hammer.min.js \
	node_modules/chartjs-plugin-zoom/dist/chartjs-plugin-zoom.min.js \
	node_modules/socket.io-client/dist/socket.io.min.js \
	node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	node_modules/swagger-ui-dist/swagger-ui.css

.PHONY: setup run serve cluster lint test fuzz bench clean python-deps frontend chromium nginx database

setup: python-deps frontend chromium nginx database

python-deps: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

frontend: $(VENDOR)/.installed
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(VENDOR_FILES) $(VENDOR)/
	touch $@

# Browser tests drive Debian's chromium; nothing downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# make cluster runs Debian's nginx binary as the current user on its own config (deploy/nginx.conf), apart from
# any system nginx service the package sets up.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx; }

database: python-deps
	$(PY) -m flask --app app db upgrade

run: setup
	DEMO=$${DEMO:-1} $(PY) app.py

serve: setup
	DEMO=$${DEMO:-0} $(PY) app.py

# CLUSTER_PROCESSES (2) processes on ports PORT+1.. behind nginx on PORT (5000), on PostgreSQL (DATABASE_URL)
# and Redis (SOCKETIO_MESSAGE_QUEUE, default redis://127.0.0.1:6379/0); Ctrl-C stops them all (README "Scale-out").
cluster: setup
	DEMO=$${DEMO:-1} $(PY) -m deploy.cluster

lint: python-deps
	$(VENV)/bin/ruff check .

# Lint first: CI fails on a lint error as on a failing test.
test: setup lint
	$(PY) -m pytest tests

# The schemathesis run of make test (tests/fuzz), longer and with a fresh seed; the output ends with that seed.
fuzz: setup
	PULSEBOARD_FUZZ_EXAMPLES=$${PULSEBOARD_FUZZ_EXAMPLES:-200} PULSEBOARD_FUZZ_SEED=$${PULSEBOARD_FUZZ_SEED:-random} \
		$(PY) -m pytest tests/fuzz -s

# wrk (Debian) loads the monitoring benchmark; without it a slower Python load generator is used.
bench: setup
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; } \
		|| echo "wrk is not installed: the monitoring benchmark falls back to its Python load generator"
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
