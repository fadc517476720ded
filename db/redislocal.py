"""The embedded Redis that AlphaPulse runs when ``REDIS_URL`` is unset (rate-limit counters, query cache).

Usage::

    python -m db.redislocal start|stop|status|url|ensure

``start`` runs Debian's ``redis-server`` (package ``redis-server``) as a daemon under
``<ALPHAPULSE_VAR_DIR>/redis/``: a unix socket only (``port 0``: nothing listens on TCP, like the embedded
TimescaleDB's socket it is reachable by local users with access to the directory; mode 700), no persistence
(counters and cache entries all expire; per-key daily usage is stored in the database), at most
:data:`MAX_MEMORY` with ``volatile-lru`` eviction. It prints the ``unix://`` URL. ``ensure`` (what ``make run``
calls) starts it unless ``REDIS_URL`` is set, and with ``REDIS_URL`` set only checks that it answers (the app
keeps serving without Redis, see README). Every command is idempotent; errors raise :class:`LocalRedisError`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from settings import Settings, get_settings

#: Memory cap of the embedded server: cache entries and counters expire within minutes; this bounds a burst.
MAX_MEMORY = "256mb"
#: Longest unix socket path the kernel accepts (``sun_path`` holds 108 bytes including the terminating NUL).
MAX_SOCKET_PATH = 107


class LocalRedisError(RuntimeError):
    """The embedded Redis cannot be started or reached; the message says why and what to do."""


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server at ``url`` (``redis://``, ``rediss://``, ``unix://``) answers PING in time."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        client.close()


@dataclass(frozen=True)
class LocalRedis:
    """One embedded redis-server living in ``directory`` (socket, pid file, log, generated config)."""

    directory: Path

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LocalRedis:
        """The embedded server of ``settings`` (default: the process settings): ``<var>/redis``."""
        return cls((settings or get_settings()).local_redis_socket.parent)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    def config(self) -> str:
        """The ``redis.conf`` text of this server (module docstring)."""
        return "\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", "daemonize yes",
            f"pidfile {self.pidfile}", f"logfile {self.logfile}", f"dir {self.directory}",
            'save ""', "appendonly no", f"maxmemory {MAX_MEMORY}", "maxmemory-policy volatile-lru",
        ]) + "\n"  # fmt: skip

    def is_running(self) -> bool:
        """True when the server answers on its socket."""
        return self.socket.exists() and answers(self.url)

    def start(self, timeout: float = 10.0) -> str:
        """Start the server unless it answers already; return its URL. Raises :class:`LocalRedisError` when
        ``redis-server`` is missing, the socket path is too long, or the server does not answer within
        ``timeout`` seconds (the message quotes its log)."""
        if self.is_running():
            return self.url
        binary = shutil.which("redis-server")
        if binary is None:
            raise LocalRedisError("redis-server not found: install Debian's redis-server (make run does) "
                                  "or set REDIS_URL")  # fmt: skip
        if len(str(self.socket)) > MAX_SOCKET_PATH:
            raise LocalRedisError(f"socket path {self.socket} is longer than {MAX_SOCKET_PATH} bytes: "
                                  "set ALPHAPULSE_VAR_DIR to a shorter directory")  # fmt: skip
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.socket.unlink(missing_ok=True)  # stale socket of a killed server
        conf = self.directory / "redis.conf"
        conf.write_text(self.config())
        subprocess.run([binary, str(conf)], check=True, capture_output=True)
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() > deadline:
                log = self.logfile.read_text()[-2000:] if self.logfile.exists() else "(no log)"
                raise LocalRedisError(f"redis-server did not answer on {self.socket} within {timeout:g} s:\n{log}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> bool:
        """Shut the server down (no save); returns False when it was not running."""
        if not self.is_running():
            return False
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        deadline = time.monotonic() + 10
        while self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True


def ensure(settings: Settings) -> str:
    """What ``make run`` needs: with ``REDIS_URL`` set, a line saying whether it answers; else the embedded
    server started (:meth:`LocalRedis.start`) and its URL."""
    if settings.redis_url:
        if answers(settings.redis_url):
            return "using REDIS_URL"
        return ("WARNING: REDIS_URL does not answer; the app serves without it (limits per worker in memory, no "
                "shared cache) until it does")  # fmt: skip
    return f"embedded Redis running: {LocalRedis.from_settings(settings).start()}"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 on success (``status``: 3 when stopped), 1 with a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m db.redislocal", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "url", "ensure"])
    args = parser.parse_args(argv)
    settings = get_settings()
    server = LocalRedis.from_settings(settings)
    try:
        if args.command == "start":
            print(server.start())
        elif args.command == "stop":
            print("stopped" if server.stop() else "not running")
        elif args.command == "status":
            running = server.is_running()
            print(f"{'running' if running else 'stopped'} ({server.socket})")
            return 0 if running else 3
        elif args.command == "ensure":
            print(f"[redis] {ensure(settings)}")
        else:
            print(server.url)
    except (LocalRedisError, subprocess.CalledProcessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
