#!/usr/bin/env bash
# The main job after migrations: filled in by the ingest and app work.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# --- ingest (INGEST's part: starts the worker in the background before the dashboard) ---
# Bundled real history first (idempotent: seconds when already loaded), then the live worker in the background.
# Without internet the worker logs one line per exchange per backoff step and keeps running.
echo "[run] loading the bundled real history (data/recorded)"
$PY -m ingest load-recorded
$PY -m ingest recompute-anomalies  # stored anomalies follow the current methods (idempotent, ~5 s on the bundle)
INGEST_LOG="$($PY -c 'from settings import get_settings; print(get_settings().var_dir)')/log/ingest.log"
mkdir -p "$(dirname "$INGEST_LOG")"
$PY -m ingest run >>"$INGEST_LOG" 2>&1 &
INGEST_PID=$!
echo "[run] ingest worker running (pid ${INGEST_PID}, log ${INGEST_LOG})"
$PY -m ingest check-exchanges 2>>"$INGEST_LOG" &  # one line per unreachable exchange (<= 8 s, in the background)

# --- alerts worker beside ingest (rules, notifications; README "Alerts") ---
ALERTS_LOG="$(dirname "$INGEST_LOG")/alerts.log"
$PY -m alerts run >>"$ALERTS_LOG" 2>&1 &
ALERTS_PID=$!
echo "[run] alerts worker running (pid ${ALERTS_PID}, log ${ALERTS_LOG})"
stop_workers() {
  for pid in "$INGEST_PID" "$ALERTS_PID"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$INGEST_PID" "$ALERTS_PID"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_workers EXIT

# --- dashboard: gunicorn in the foreground (Ctrl-C stops it; host/port/workers from settings, see README) ---
URL=$($PY -c 'from settings import get_settings as g; s = g(); print(f"http://{s.dashboard_host}:{s.dashboard_port}/")')
echo "[run] starting the dashboard (gunicorn, gunicorn.conf.py) at ${URL}"
.venv/bin/gunicorn -c gunicorn.conf.py app.wsgi:app  # not exec: traps set above (worker cleanup) stay active
