"""Database sessions of the live ingest worker: bounded engines, blocking calls in threads, cancelling queries.

* :func:`write_engine`: every session has ``lock_timeout`` and ``statement_timeout`` from settings and TCP
  keepalives (``db.engine.make_engine``), so no write waits on a lock or a dead server for long.
* :func:`in_thread`: a blocking database call awaited from the event loop without delaying the process's exit.
* :class:`Sessions`: the connections checked out right now, so a stop can cancel their queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from sqlalchemy import Engine, event

from db.engine import make_engine
from settings import Settings


def short(message: str, limit: int = 160) -> str:
    """The first line of ``message``, cut to ``limit`` characters (for one-line logs)."""
    line = message.splitlines()[0] if message else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def write_engine(url: str, settings: Settings) -> Engine:
    """An engine for the live worker's sessions: ``lock_timeout`` = ``ALPHAPULSE_DB_LOCK_TIMEOUT_SECONDS`` and
    ``statement_timeout`` = ``ALPHAPULSE_DB_STATEMENT_TIMEOUT_SECONDS`` on every connection, so a write blocked by a
    lock fails (and is retried) instead of waiting, and no query outlives a stop by much."""
    return make_engine(url, lock_timeout=settings.db_lock_timeout_seconds,
                       statement_timeout=settings.db_statement_timeout_seconds)


async def in_thread(fn: Callable, *args):
    """``fn(*args)`` in a new daemon thread, awaited. Unlike ``asyncio.to_thread`` (the loop's default executor,
    which ``asyncio.run`` joins at exit), a call blocked on a dead database never delays the process's exit."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(setter, value) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, future.set_exception, exc)
        else:
            loop.call_soon_threadsafe(settle, future.set_result, result)

    threading.Thread(target=run, name=f"db-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future


class Sessions:
    """The DBAPI connections of ``engine`` checked out right now, so a stop can cancel their queries."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._out: set = set()
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, dbapi_conn, _record, _proxy) -> None:
        with self._lock:
            self._out.add(dbapi_conn)

    def _checkin(self, dbapi_conn, _record) -> None:
        with self._lock:
            self._out.discard(dbapi_conn)

    def cancel_all(self) -> int:
        """Send a cancel request for every checked-out connection's running query; returns how many were sent."""
        with self._lock:
            conns = list(self._out)
        for conn in conns:
            with contextlib.suppress(Exception):  # a dead connection has nothing to cancel
                conn.cancel_safe(timeout=0.5)
        return len(conns)
