"""The fake exchange HTTP server: Binance USD-M, Bybit v5, OKX v5 and Hyperliquid public APIs on one local port.

``FakeExchange`` runs a stdlib ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) in a daemon thread on
``127.0.0.1`` with an OS-assigned port. The exchanges' paths do not overlap (``/fapi/…``, ``/v5/…``,
``/api/v5/…``, Hyperliquid's ``POST /info``), so one server answers all of them; point a ccxt client at it with
``ingest.ccxt_urls.override_api_urls(client, fake.url)``.

Tests control it through ``set_now`` (the reference clock), ``set_skew`` (the exchange's clock against it),
``fail_next`` (faults), ``hide`` (holes) and read
``requests`` (every request's path and query, in arrival order). Unknown paths answer HTTP 404 and are
listed in ``unknown_paths``.
"""

from __future__ import annotations

import email.utils
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.fake_exchange import binance, binance_oi, bybit, hyperliquid, okx
from tests.fake_exchange.api import ApiError, Handler
from tests.fake_exchange.faults import Fault, FaultKind, FaultPlan, spoil
from tests.fake_exchange.store import RecordedStore
from tests.fake_exchange.view import MarketView

ROUTES: dict[str, Handler] = {**binance.ROUTES, **binance_oi.ROUTES, **bybit.ROUTES, **okx.ROUTES}
#: POST routes: path -> ``handler(view, parsed JSON body)``.
POST_ROUTES: dict[str, Callable[[MarketView, Any], Any]] = {**hyperliquid.POST_ROUTES}
#: Path prefix -> the exchange's own HTTP 429 body.
RATE_LIMIT_BODIES = {**{m.PREFIX: m.RATE_LIMIT_BODY for m in (binance, bybit, okx)},
                     hyperliquid.PATH: hyperliquid.RATE_LIMIT_BODY}
#: ccxt exchange ids and venue names -> the store's venue names.
VENUES = {"binanceusdm": "binance", "binance": "binance", "bybit": "bybit", "okx": "okx",
          "hyperliquid": "hyperliquid"}


class Request(NamedTuple):
    """One request as received: ``path`` (no query) and ``query`` (``{name: value}``; for a POST the JSON body's
    top-level scalars as strings, e.g. ``{"type": "fundingHistory", "coin": "BTC", …}``), ``body`` (a POST's parsed
    JSON body) and ``method``."""

    path: str
    query: dict[str, str]
    body: Any = None
    method: str = "GET"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeExchange, address: tuple[str, int]) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: the request log is ``FakeExchange.requests``."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header from the exchange's clock (skew included), as a real exchange's comes from its own."""
        return email.utils.formatdate(self.server.fake.view.now_ms() / 1000, usegmt=True)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._serve(Request(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))))

    def do_POST(self) -> None:
        """JSON-body APIs (Hyperliquid ``POST /info``); a body that is not JSON is recorded as ``None``."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        scalars = body.items() if isinstance(body, dict) else ()
        query = {k: str(v) for k, v in scalars if not isinstance(v, (dict, list))}
        self._serve(Request(urlsplit(self.path).path, query, body, "POST"))

    def _serve(self, request: Request) -> None:
        fake = self.server.fake
        fake.record(request)
        fault = fake.faults.take(request.path)
        if fault is not None and fault.kind not in (FaultKind.MALFORMED_JSON, FaultKind.BAD_PAYLOAD):
            self._fail(fault)
            return
        status, body = self._answer(request)
        if fault is not None and status == 200:
            data = json.dumps(spoil(body) if fault.kind is FaultKind.BAD_PAYLOAD else body).encode()
            self._send(200, data[: len(data) // 2] if fault.kind is FaultKind.MALFORMED_JSON else data)
            return
        self._send(status, json.dumps(body).encode())

    def _answer(self, request: Request) -> tuple[int, Any]:
        routes = POST_ROUTES if request.method == "POST" else ROUTES
        handler = routes.get(request.path)
        if handler is None:
            self.server.fake.unknown_paths.append(request.path)
            return 404, {"fake_exchange": "no such route", "path": request.path}
        try:
            return 200, handler(self.server.fake.view, request.body if request.method == "POST" else request.query)
        except ApiError as err:
            return err.status, err.body

    def _send(self, status: int, data: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, fault: Fault) -> None:
        if fault.kind is FaultKind.RESET:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.kind is FaultKind.TIMEOUT:
            time.sleep(fault.delay_s)
            self.close_connection = True
            return
        if fault.kind is FaultKind.RATE_LIMIT:
            body = next((b for p, b in RATE_LIMIT_BODIES.items() if self.path.startswith(p)), {})
            self._send(429, json.dumps(body).encode(), Retry_After=str(fault.retry_after_s))
            return
        text = f"fake exchange: injected HTTP {fault.kind.value}".encode()
        self._send(int(fault.kind.value), text, "text/plain")


class FakeExchange:
    """A running fake exchange over ``store`` (loaded from ``tests/data/fake_exchange`` when ``None``).

    Use as a context manager or call ``start()``/``stop()``. ``url`` is ``http://127.0.0.1:<port>``.
    """

    def __init__(self, store: RecordedStore | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.view = MarketView(store if store is not None else RecordedStore.load())
        self.faults = FaultPlan()
        self.requests: list[Request] = []
        self.unknown_paths: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(self, (host, port))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-exchange", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeExchange:
        """Start serving in a background thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, request: Request) -> None:
        """Append ``request`` to ``requests`` (called by the server for every request)."""
        with self._lock:
            self.requests.append(request)

    def set_now(self, ms: int, running: bool = False) -> None:
        """Set the exchange clock to ``ms`` (UTC ms since the epoch); ``running=True`` lets it tick on with
        wall time. Nothing stamped after now is served; the candle containing now is the open one."""
        self.view.set_now(ms, running)

    def now_ms(self) -> int:
        """The reference time, UTC ms (tests give it to the worker as its clock); the exchange's own clock is
        :meth:`exchange_now_ms` (the same unless :meth:`set_skew` was called)."""
        return self.view.reference_ms()

    def exchange_now_ms(self) -> int:
        """The exchange's own clock, UTC ms: the reference time plus the skew (what it serves, its ``Date``)."""
        return self.view.now_ms()

    def set_skew(self, ms: int) -> None:
        """Make the exchange's clock ``ms`` ahead of the reference time (negative: behind), as a real exchange's
        clock differs from the worker's."""
        self.view.set_skew(ms)

    def fail_next(
        self, path_prefix: str, kind: FaultKind | str, count: int = 1, delay_s: float = 5.0, retry_after_s: int = 1
    ) -> None:
        """Make the next ``count`` requests whose path starts with ``path_prefix`` fail with ``kind``
        (a ``FaultKind`` or its value: ``"429"``, ``"500"``, ``"502"``, ``"503"``, ``"timeout"``,
        ``"malformed_json"``, ``"bad_payload"``, ``"reset"``). A ``timeout`` stalls ``delay_s`` seconds, which
        must exceed the client's timeout (ccxt ``timeout`` in ms; ingest: ``ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS``)
        to raise RequestTimeout; ``retry_after_s`` is the 429's ``Retry-After``. Raises ``ValueError`` for an
        unknown kind or a count below 1."""
        self.faults.add(Fault(path_prefix, FaultKind(kind), count, delay_s, retry_after_s))

    def hide(self, exchange: str, symbol: str, kind: str, start_ms: int, end_ms: int) -> None:
        """Make a hole: rows of ``kind`` (``"1m"``, ``"1h"`` or ``"funding"``) of ``exchange`` (ccxt id or
        venue) + ``symbol`` (unified ``BTC/USDT:USDT`` or base ``BTC``) stamped in [start_ms, end_ms] vanish.
        Raises ``KeyError`` for an exchange not served."""
        self.view.hide(VENUES[exchange], symbol.split("/", maxsplit=1)[0], kind, start_ms, end_ms)

    def set_interval(self, exchange: str, symbol: str, hours: float) -> None:
        """From now on serve ``hours`` as the funding interval of ``exchange`` (ccxt id or venue) + ``symbol``
        (unified or base) in every answer that carries one (Binance ``fundingInfo``, Bybit instruments and tickers,
        OKX's next funding times) and on its settlement grid. Raises ``KeyError`` for an exchange not served."""
        self.view.set_interval(VENUES[exchange], symbol.split("/", maxsplit=1)[0], int(hours * 3_600_000))

    def spoil_funding(self, exchange: str, symbol: str) -> None:
        """Make ``exchange`` + ``symbol``'s entry of the current-funding answers malformed (rate and prices
        ``"NaN"``), the other symbols of the same all-symbol answer untouched. Raises ``KeyError`` as above."""
        self.view.spoil_funding(VENUES[exchange], symbol.split("/", maxsplit=1)[0])

    def spoil_open_interest(self, exchange: str, symbol: str) -> None:
        """Make ``exchange`` + ``symbol``'s open-interest fields ``"NaN"`` in every answer that carries them (Binance
        ``openInterest``, Bybit tickers, OKX ``open-interest``, Hyperliquid ``metaAndAssetCtxs``), the other symbols
        of an all-symbol answer untouched. Raises ``KeyError`` for an exchange not served."""
        self.view.spoil_open_interest(VENUES[exchange], symbol.split("/", maxsplit=1)[0])

    def reset(self) -> None:
        """Clock back to ``store.DEFAULT_NOW_MS``, no faults, no holes, no interval overrides or spoiled entries, empty
        request log."""
        self.view.reset()
        self.faults.clear()
        with self._lock:
            self.requests.clear()
            self.unknown_paths.clear()
