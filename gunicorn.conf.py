"""gunicorn configuration of the AlphaPulse web app: ``gunicorn -c gunicorn.conf.py app.wsgi:app``.

Every value comes from ``settings`` (environment variables, see README) or is a constant with its reason beside it.
"""

import ctypes
import ctypes.util
import gc
import sys
from pathlib import Path

from sqlalchemy import text

from db.engine import get_engine, make_engine
from settings import get_settings
from settings.auth import StartupError, resolve_policy, sign_in_required

_settings = get_settings()

# Address and port from ALPHAPULSE_HOST / ALPHAPULSE_PORT (default 127.0.0.1:8050: local only until a proxy fronts it).
bind = f"{_settings.dashboard_host}:{_settings.dashboard_port}"

# gthread: Dash pages fire several callbacks per refresh and each waits on the database (I/O), so a few threads per
# process serve them concurrently at far less memory than more processes; processes (ALPHAPULSE_WEB_WORKERS)
# add CPU parallelism for figure building and JSON encoding, which hold the GIL.
worker_class = "gthread"
workers = _settings.web_workers
threads = _settings.web_threads

# No preload: each worker imports the app and builds its own Dash app and database engine after the fork, so no
# socket or pool is ever shared between processes (post_fork below also clears any engine inherited anyway).
preload_app = False

# A chart query takes milliseconds and the slowest API request well under a second; 30 s only catches a worker
# stuck on a dead database connection, which gunicorn then kills and replaces.
timeout = 30
# On SIGTERM/HUP, in-flight requests get this long to finish before workers are killed.
graceful_timeout = 20
# Browsers keep connections open between the auto-refresh ticks (5-60 s); 5 s keep-alive saves reconnects on the
# burst of callbacks one refresh makes without holding threads for idle clients.
keepalive = 5

# Recycle a worker after this many requests (± jitter so workers do not restart together): bounds slow memory
# growth of long-lived pandas/plotly processes (goal: RSS <= 150 MB per worker).
max_requests = 5000
max_requests_jitter = 500

# Access log to a file (ALPHAPULSE_ACCESS_LOG, default var/log/access.log; "-" for stdout): one open tab makes
# ~85 Dash callbacks a minute, which buried the terminal's useful lines. Request time in milliseconds (%(M)s) and
# microseconds (%(D)s) for latency analysis. Errors, warnings and start-up lines stay on stderr. Level from
# ALPHAPULSE_LOG_LEVEL. Rotate with logrotate's copytruncate (gunicorn reopens its logs on SIGUSR1).
accesslog = _settings.access_log_path
if accesslog != "-":
    Path(accesslog).parent.mkdir(parents=True, exist_ok=True)
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)sms (%(D)sus) "%(a)s"'
errorlog = "-"
loglevel = _settings.log_level.lower()

# gunicorn >= 25 opens a control socket under $HOME by default; AlphaPulse does not use gunicornc, and a second
# instance (tests, benchmark) would contend for the same path.
control_socket_disable = True

# Process name in ps/top, to tell the dashboard apart from the ingest worker.
proc_name = "alphapulse-web"


def on_starting(server):
    """Refuse to start, before binding any socket, when the addresses gunicorn would bind need sign-in that is not
    set up (``settings.auth``: a secret and at least one user), or differ from ``ALPHAPULSE_HOST`` in being
    loopback or not (the app decides about sign-in from ``ALPHAPULSE_HOST``, e.g. ``-b 0.0.0.0:8050`` with the
    default 127.0.0.1). Prints the reason and exits with status 1."""
    hosts = tuple(addr[0] for addr in server.cfg.address if isinstance(addr, tuple))
    try:
        required = sign_in_required(_settings, hosts or None)
        if required != sign_in_required(_settings):
            raise StartupError(f"gunicorn binds {', '.join(hosts)} but ALPHAPULSE_HOST is "
                               f"{_settings.dashboard_host}: set ALPHAPULSE_HOST to the address you bind")  # fmt: skip
        resolve_policy(_settings, _count_users)
    except StartupError as exc:
        print(f"[run] cannot start the dashboard: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _count_users() -> int:
    engine = make_engine(_settings.database_url_for("app"), pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM users")).scalar_one()  # as db.accounts.count_users
    finally:
        engine.dispose()


def when_ready(server):
    """Tell the person who ran ``make run`` where the dashboard is, once the socket is listening."""
    url = f"http://{_settings.dashboard_host}:{_settings.dashboard_port}/"
    server.log.info("AlphaPulse dashboard ready at %s (JSON API: %sapi/health, Prometheus: %smetrics)", url, url, url)
    print(f"[run] dashboard ready: {url}", flush=True)


def post_fork(server, worker):
    """Drop any engine created in the master before the fork: pooled connections must never be shared between
    processes (SQLAlchemy's documented fork rule); the worker's first request creates its own. Then cap glibc's
    malloc arenas (:func:`_limit_malloc_arenas`) before the worker starts its threads."""
    get_engine.cache_clear()
    _limit_malloc_arenas(MALLOC_ARENAS)


# glibc gives each thread that allocates concurrently its own malloc arena (up to 8 per core), and memory freed
# in one arena is not reused by another: after the same session of chart callbacks (make bench-ui) the workers
# held 148 and 160 MB RSS with the default, 149 and 148 MB with 2 arenas, at no measurable cost in page load.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number, glibc <malloc.h>


def _limit_malloc_arenas(arenas: int) -> None:
    """``mallopt(M_ARENA_MAX, arenas)`` on glibc (what the MALLOC_ARENA_MAX environment variable sets at start);
    a no-op where the C library has no ``mallopt`` (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def post_worker_init(worker):
    """Once the worker has loaded the app, move every object alive then (modules, the Dash app, its layout
    registry: ~90k objects) into the collector's permanent generation (``gc.freeze``, Python docs). Full
    collections then scan only what requests allocate: without it, every ~8th 24 h chart query (7,200 rows)
    paid a ~40 ms full collection (p95 of ``/api/prices`` at 24 h: 104 ms instead of ~40 ms)."""
    gc.freeze()
