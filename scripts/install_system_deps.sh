#!/usr/bin/env bash
# Install the Debian/Ubuntu packages AlphaPulse needs, only those missing.
#   scripts/install_system_deps.sh run    PostgreSQL server, redis-server (embedded Redis) + Python venv support
#   scripts/install_system_deps.sh test   the above + Chromium and chromedriver (browser tests)
# Idempotent: when everything is present it only checks and exits in well under a second.
set -euo pipefail
mode="${1:-run}"
PG_MAJOR="${PG_MAJOR:-15}"

need=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_ctl" ] || need+=("postgresql-${PG_MAJOR}" "postgresql-client-${PG_MAJOR}")
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v make >/dev/null || need+=(make)
command -v redis-server >/dev/null || need+=(redis-server)
if [ "$mode" = "test" ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
fi
((${#need[@]})) || exit 0

command -v apt-get >/dev/null 2>&1 || {
  echo "[system-deps] ERROR: please install: ${need[*]} (no apt-get on this machine)" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[system-deps] installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
