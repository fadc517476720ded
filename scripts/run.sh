#!/usr/bin/env bash
# The main job after migrations: filled in by the ingest and app work.
set -euo pipefail
echo "[run] database migrated; ingest and dashboard are not built yet"
