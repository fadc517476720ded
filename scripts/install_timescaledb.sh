#!/usr/bin/env bash
# Make sure the local PostgreSQL server can `CREATE EXTENSION timescaledb`.
#
# Idempotent: when the extension's control file is already installed for the
# PostgreSQL found by pg_config, it prints one line and exits in well under a second.
#
# On Debian/Ubuntu without a timescaledb package for this PostgreSQL it builds the
# Apache-2 edition from Debian's *source* package (suite trixie, fetched through an
# apt deb-src entry whose mirror is read from this machine's own apt sources) with
# cmake against the installed pg_config. Anywhere else it stops with a message that
# names what to install instead.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
SRC_SUITE="${TIMESCALEDB_SRC_SUITE:-trixie}"
BUILD_DIR="${TIMESCALEDB_BUILD_DIR:-${TMPDIR:-/tmp}/alphapulse-timescaledb-build}"
SRC_LIST=/etc/apt/sources.list.d/alphapulse-timescaledb-src.sources

log() { printf '[timescaledb] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

pg_config_bin() {
  local c="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
  if [ -x "$c" ]; then echo "$c"; elif command -v pg_config >/dev/null; then command -v pg_config; fi
}

installed() {
  local pgc; pgc=$(pg_config_bin)
  [ -n "$pgc" ] || return 1
  local share lib
  share=$("$pgc" --sharedir); lib=$("$pgc" --pkglibdir)
  [ -f "$share/extension/timescaledb.control" ] && ls "$lib"/timescaledb*.so >/dev/null 2>&1
}

if installed; then
  log "already installed for $("$(pg_config_bin)" --version)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install PostgreSQL ${PG_MAJOR} with the TimescaleDB extension \
(packages from your OS or timescale's repository), or run the timescale/timescaledb docker image and set DATABASE_URL."

# A mirror for the deb-src entry, read from this machine's apt configuration.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
    if [ -n "$uri" ] && grep -qiE '^Suites:.*(bookworm|trixie|sid|bullseye)' "$f" \
       && ! grep -qi 'security' <<<"$uri"; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
}

log "building TimescaleDB (Apache edition) for PostgreSQL ${PG_MAJOR} from Debian's source package"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" cmake gcc make dpkg-dev libssl-dev >/dev/null

if ! installed; then
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "could not read a Debian mirror from /etc/apt; install TimescaleDB for PostgreSQL ${PG_MAJOR} by hand"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  $SUDO tee "$SRC_LIST" >/dev/null <<SRC
Types: deb-src
URIs: ${mirror}
Suites: ${SRC_SUITE}
Components: main
Signed-By: ${keyring}
SRC
  $SUDO apt-get update -qq -o Dir::Etc::sourcelist="$SRC_LIST" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
  rm -rf "$BUILD_DIR"; mkdir -p "$BUILD_DIR"; cd "$BUILD_DIR"
  apt-get source -qq --download-only -o Dir::Etc::sourcelist="$SRC_LIST" -o Dir::Etc::sourceparts=- timescaledb
  dpkg-source --no-check -x ./*.dsc src >/dev/null
  cd src
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG="$(pg_config_bin)" \
    -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
    -DWARNINGS_AS_ERRORS=OFF >/dev/null
  cmake --build build -j "$(nproc)" >/dev/null
  $SUDO cmake --install build >/dev/null
  cd / && rm -rf "$BUILD_DIR"
fi

installed || die "TimescaleDB build finished but the extension is not installed for $(pg_config_bin)"
log "installed for $("$(pg_config_bin)" --version)"
