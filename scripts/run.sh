#!/usr/bin/env bash
# The main job after migrations: filled in by the ingest and app work.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# --- ingest (INGEST's part: starts the worker in the background before the dashboard) ---

# --- dashboard: gunicorn in the foreground (Ctrl-C stops it; host/port/workers from settings, see README) ---
URL=$($PY -c 'from settings import get_settings as g; s = g(); print(f"http://{s.dashboard_host}:{s.dashboard_port}/")')
echo "[run] starting the dashboard (gunicorn, gunicorn.conf.py) at ${URL}"
.venv/bin/gunicorn -c gunicorn.conf.py app.wsgi:app  # not exec: traps set above (ingest cleanup) stay active
