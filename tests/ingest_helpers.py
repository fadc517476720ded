"""Helpers for the ingest tests: run a worker until a condition holds, and a TCP proxy in front of the
database that a test can cut and restore (the database "goes away" for the worker only, so other tests
sharing the cluster are not disturbed)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sqlalchemy import Engine, make_url, text

from ingest.recorded import read_klines_1m
from ingest.worker import Worker
from tests.fake_exchange.store import (
    BINANCE_FUNDING_FILES,
    BINANCE_KLINES_1M_FILE,
    CROSS_VENUE_CANDLES_FILE,
    CROSS_VENUE_FUNDING_FILE,
    DATA_DIR,
)

MINUTE_MS, HOUR_MS = 60_000, 3_600_000


class FundingState(NamedTuple):
    """A Binance symbol's current funding as the fake exchange derives it, computed here from the recorded files:
    ``rate`` (fraction per interval) and ``settled_ms`` of the last settlement at or before now, ``mark`` = close of
    the candle that closed last by now (1-minute or 1-hour; the 1-minute one at an equal close time), ``next_ms`` =
    next settlement on the minute-floored grid of the last one every ``interval_ms``."""

    rate: float
    settled_ms: int
    mark: float
    next_ms: int


def _rows(name: str | Path) -> list[dict[str, str]]:
    with gzip.open(DATA_DIR / name, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def recorded_funding_state(base: str, now_ms: int, interval_ms: int) -> FundingState:
    """:class:`FundingState` of ``<base>USDT`` on Binance at ``now_ms`` (UTC ms), read directly from the recorded
    files of ``tests/data/fake_exchange`` (Binance funding files, cross-venue Binance rows, 1m klines, 1h candles)."""
    funding = [(int(r["funding_time_ms"]), r["funding_rate"]) for n in BINANCE_FUNDING_FILES for r in _rows(n)
               if r["symbol"] == f"{base}USDT"]
    funding += [(int(r["funding_time_ms"]), r["funding_rate"]) for r in _rows(CROSS_VENUE_FUNDING_FILE)
                if (r["venue"], r["coin"]) == ("binance", base)]
    settled_ms, rate = max(f for f in funding if f[0] <= now_ms)
    closed = [(int(r["open_time_ms"]) + MINUTE_MS, -MINUTE_MS, r["close"]) for r in _rows(BINANCE_KLINES_1M_FILE)
              if r["symbol"] == f"{base}USDT" and int(r["open_time_ms"]) + MINUTE_MS <= now_ms]
    closed += [(int(r["open_time_ms"]) + HOUR_MS, -HOUR_MS, r["close"]) for r in _rows(CROSS_VENUE_CANDLES_FILE)
               if (r["venue"], r["coin"]) == ("binance", base) and int(r["open_time_ms"]) + HOUR_MS <= now_ms]
    mark = float(max(closed)[2])
    grid = settled_ms - settled_ms % MINUTE_MS
    return FundingState(float(rate), settled_ms, mark, grid + interval_ms * ((now_ms - grid) // interval_ms + 1))


def recorded_candles(symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The bundled real Binance 1-minute candles of ``symbol`` with open time in ``[start, end)``."""
    frame = read_klines_1m()
    frame = frame[(frame["symbol"] == symbol) & (frame["time"] >= start) & (frame["time"] < end)]
    return frame.sort_values("time").reset_index(drop=True)


def stored_candles(engine: Engine, symbol: str, exchange: str = "binanceusdm") -> pd.DataFrame:
    """Stored 1-minute ``last`` candles of ``symbol`` (time, open, high, low, close, volume), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT time, open, high, low, close, volume FROM prices WHERE exchange = :e AND symbol = :s "
                "AND timeframe = '1m' AND price_kind = 'last' ORDER BY time"
            ),
            {"e": exchange, "s": symbol},
        ).mappings()
        frame = pd.DataFrame(rows.all(), columns=["time", "open", "high", "low", "close", "volume"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


async def run_worker_until(
    worker: Worker, condition: Callable[[], bool], timeout: float = 30.0, during: Callable[[], None] | None = None
) -> int:
    """Run ``worker`` until ``condition()`` (checked in a thread every 0.2 s) holds or ``timeout`` seconds
    pass, then stop it; returns its exit status. ``during`` runs once after the first check."""
    task = asyncio.create_task(worker.run(install_signals=False))
    deadline = time.monotonic() + timeout
    first = True
    while time.monotonic() < deadline and not task.done():
        if await asyncio.to_thread(condition):
            break
        if first and during is not None:
            during()
        first = False
        await asyncio.sleep(0.2)
    worker.request_stop()
    return await asyncio.wait_for(task, timeout=15)


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; :meth:`cut` closes the listener and every connection
    (clients see the database vanish), :meth:`restore` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def url_for(self, db_url: str) -> str:
        """``db_url`` with host/port replaced by this proxy."""
        return make_url(db_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def restore(self) -> TcpProxy:
        """Start (or restart) listening; returns self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Stop listening and reset every open connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
