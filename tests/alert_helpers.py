"""Helpers of the alerts tests and benchmark: a local HTTP receiver of apprise's JSON webhook, and market rows
written through ``db.writes`` as ingest writes them."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

from db.writes.common import FUNDING_COLUMNS
from db.writes.funding import write_funding


class Receiver:
    """A JSON webhook receiver on 127.0.0.1 (its own thread): ``posts`` holds ``(arrival monotonic seconds, body
    dict)`` of every POST; ``status`` is the HTTP status it answers (set 500 to make deliveries fail)."""

    def __init__(self):
        self.posts: list[tuple[float, dict]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append((time.monotonic(), json.loads(body)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """apprise URL of the receiver (JSON webhook)."""
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()


def funding_row(time_: datetime, exchange: str, symbol: str, rate: float, hours: float = 8.0,
                mark: float = 100.0, index: float = 100.0) -> dict:
    """One predicted funding row (``FUNDING_COLUMNS``)."""
    return {"time": time_, "exchange": exchange, "symbol": symbol, "settled": False, "funding_rate": rate,
            "funding_interval_hours": hours, "mark_price": mark, "index_price": index, "next_funding_time": None}


def write_funding_rows(engine, rows: list[dict]) -> None:
    """Write ``rows`` (:func:`funding_row`) through ``db.writes`` as ingest does."""
    write_funding(engine, pd.DataFrame(rows, columns=list(FUNDING_COLUMNS)))
