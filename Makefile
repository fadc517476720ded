# AlphaPulse — the two commands a newcomer needs:
#   make run    database (embedded TimescaleDB unless DATABASE_URL is set), migrations, ingest, dashboard
#   make test   the whole test suite against a real TimescaleDB, ccxt and headless Chromium
# Every step is idempotent: a second run skips installs that are already done.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
export PATH := $(BIN):$(PATH)

.PHONY: run test system-deps system-deps-test timescaledb venv db-start db-stop db-status redis-start redis-stop migrate lint bench-ingest bench-app bench-ui bench-load bench-anomalies bench-alerts bench-market clean

# --- installation ------------------------------------------------------------------------
system-deps:
	@scripts/install_system_deps.sh run

system-deps-test:
	@scripts/install_system_deps.sh test

timescaledb: system-deps
	@scripts/install_timescaledb.sh

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: system-deps $(STAMP)

# --- database ----------------------------------------------------------------------------
db-start: timescaledb venv
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/python -m db.local start >/dev/null && echo "[db] embedded TimescaleDB running: $$($(BIN)/python -m db.local url)"; \
	 else echo "[db] using DATABASE_URL"; fi

db-stop:
	@$(BIN)/python -m db.local stop

db-status:
	@$(BIN)/python -m db.local status

# Embedded Redis (rate-limit counters, query cache) under ./var unless REDIS_URL is set (then only checked).
redis-start: system-deps venv
	@$(BIN)/python -m db.redislocal ensure

redis-stop:
	@$(BIN)/python -m db.redislocal stop

migrate: db-start
	@$(BIN)/alembic -c alembic.ini upgrade head

# --- the two commands ----------------------------------------------------------------------
run: migrate redis-start
	@scripts/run.sh

test: system-deps-test db-start redis-start
	@$(BIN)/python -m pytest

# Benchmark of the app's queries/API/charts and gunicorn memory (prints figures; not part of `make test`).
bench-app: db-start redis-start
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_app.py $(BENCH_ARGS)

# Ingest benchmark: 1M derived candle rows through the pipeline vs raw COPY, worker RSS polling 100 symbols
# of the fake exchange (BENCH_ARGS="--rss-minutes 10"; prints figures; not part of `make test`).
bench-ingest: db-start
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_ingest.py $(BENCH_ARGS)

# Market-wide funding reads at ~1,790 pairs x 90 days vs naive SQL, the all-market snapshot write, ingest worker RSS
# with the whole funding universe (BENCH_ARGS="--minutes 60 --rss-minutes 0"; prints figures; not part of `make test`).
bench-market: db-start redis-start
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_market.py $(BENCH_ARGS)

# Anomalies flagged per metric and venue on the stored data, at the defaults (prints figures; not part of `make test`).
bench-anomalies: migrate
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_anomalies.py

# Alerts: seconds per cycle of 500 rules over every pair; row written -> notification received (prints figures).
bench-alerts: migrate
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_alerts.py

# Page load to all charts drawn in headless Chromium against gunicorn (prints figures; not part of `make test`).
bench-ui: db-start
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_ui.py $(BENCH_ARGS)

# Load test: locust users against gunicorn in steps of 10/50/100/200 (prints figures; not part of `make test`;
# BENCH_ARGS="--steps 10,50 --step-seconds 60" for a shorter run).
bench-load: db-start redis-start
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/bench_load.py $(BENCH_ARGS)

lint: venv
	@$(BIN)/ruff check .
	@$(BIN)/lint-imports

clean:
	rm -rf $(VENV) artifacts .pytest_cache
