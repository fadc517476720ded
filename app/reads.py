"""A callback's independent reads run at once, each on its own read connection (:func:`read_all`), and work kept
beside a callback's main work (:func:`alongside`).

A page's draw reads several things that do not depend on each other (the Overview: funding, prices, anomalies and
the cards' snapshot; the System page: nine metric and health reads). One after the other on one connection the
opening waits for the sum of their database times; on separate connections PostgreSQL runs them in separate
backends, so one analyst's opening waits about for the longest (issue 10: every cold opening <= 50 ms p95). The
numbers are those of the same reads run in turn: each read is a statement of its own (read committed), as before.

Threads come from an executor made per call (no state kept in the module); each runs in the Flask app context of
the request (the shared cache and the app's settings), and no thread holds a connection while it waits for another
(so a busy pool only delays, never deadlocks). At most :data:`MAX_PARALLEL` reads of one call run at once: a
gunicorn worker's threads share one pool (``db.engine.make_engine``: 5 connections, 5 more in overflow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import flask
from sqlalchemy import Connection

from app.dashboard import read_connection

T = TypeVar("T")
S = TypeVar("S")

#: Most reads of one :func:`read_all` call running at once (each on a connection of the process's pool).
MAX_PARALLEL = 4


def _in_app(app: flask.Flask, fn: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        with app.app_context():
            return fn()

    return run


def read_all(reads: Mapping[str, Callable[[Connection], T]]) -> dict[str, T]:
    """``{name: read(conn)}`` of every read, each on its own read connection (:func:`app.dashboard.read_connection`),
    at most :data:`MAX_PARALLEL` at once (one read runs in the calling thread). Must run in a Flask app context.
    The first error of a read (e.g. SQLAlchemy's when the database is unreachable) is raised once every read has
    ended."""

    def one(read: Callable[[Connection], T]) -> Callable[[], T]:
        def run() -> T:
            with read_connection() as conn:
                return read(conn)

        return run

    if len(reads) <= 1:
        return {name: one(read)() for name, read in reads.items()}
    app = flask.current_app._get_current_object()  # noqa: SLF001 (the app itself, for the threads' contexts)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(reads))) as pool:
        futures = {name: pool.submit(_in_app(app, one(read))) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}


def alongside(side: Callable[[], S], main: Callable[[], T]) -> tuple[T, S]:
    """``(main(), side())`` with ``side`` run in another thread (in the request's Flask app context) while ``main``
    runs in this one. ``main``'s errors are raised after ``side`` has ended; then ``side``'s."""
    app = flask.current_app._get_current_object()  # noqa: SLF001
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_in_app(app, side))
        result = main()
        return result, future.result()
