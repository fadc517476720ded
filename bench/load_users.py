"""Locust users of ``make bench-load`` (``bench/bench_load.py`` runs this file headless; not a test).

Each user is an analyst with a browser whose HTTP cache is warm (vendored bundles and assets are not fetched
again, as for a returning analyst). It opens one view of one page the way dash-renderer does:

1. ``GET`` the page (HTML; sets the CSRF cookie), ``GET /_dash-layout`` and ``/_dash-dependencies``;
2. the Dash pages callback that renders the page for its path and query;
3. the callbacks the page's components fire when they mount: the draw (on ``{page}-fp``; it stores the baseline
   fingerprint too, or a baseline callback runs in parallel where a version has one), then the picker options.

"page load" (a TIMING entry) is the time from step 1 to the draw's answer. Then, every :data:`TICK_SECONDS`, the
refresh check (``{page}-interval`` ticks); when it answers with a new draw request, the draw
follows ("chart redraw" TIMING entries). Every callback carries the ``X-CSRFToken`` header from the cookie, as
dash-renderer sends it.

With ``ALPHAPULSE_BENCH_REDRAW=1`` every tick also redraws, as when every tick brings new data: the draw request
carries a fingerprint that changes every tick (the same for every user in that tick, as a new row would), so the
shared cache misses once per view and tick. Views: the overview, anomalies and system pages over 1 hour to 30
days, anchored at the end of the bundled history, and the overview and markets pages over the seven venues'
history (:data:`VIEWS`), chosen at random per user.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime

import gevent
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from bench.dash_protocol import PREFIX, find, page_callbacks, request_body

TICK_SECONDS = 10
END = "2025-06-24T10:00Z"
#: End of the bundled cross-venue history with candles (seven venues' funding, open interest, 1-hour candles).
END_VENUES = "2026-03-05T10:00Z"
SYMBOLS2 = "BTC/USDT,ETH/USDT"
SYMBOLS5 = "BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT,XRP/USDT"
#: (page path, query) of the views users open.
VIEWS = (
    ("/", f"symbols={SYMBOLS2}&exchange=binanceusdm&range=1h&end={END}"),
    ("/", f"symbols={SYMBOLS2}&exchange=binanceusdm&end={END}"),
    ("/", f"symbols={SYMBOLS5}&exchange=binanceusdm&range=7d&end={END}"),
    ("/", f"symbols={SYMBOLS5}&range=30d&end={END}"),
    ("/anomalies", f"symbols={SYMBOLS2}&exchange=binanceusdm&range=7d&end={END}"),
    ("/system", f"range=24h&end={END}"),
    ("/", f"symbols={SYMBOLS2}&range=7d&end={END_VENUES}"),
    ("/markets", f"end={END_VENUES}"),
    ("/markets", f"symbols={SYMBOLS2}&range=30d&end={END_VENUES}"),
)
REDRAW = os.environ.get("ALPHAPULSE_BENCH_REDRAW") == "1"


class Analyst(FastHttpUser):
    """One analyst on one view (module docstring)."""

    wait_time = constant(0)  # each task waits for its tick itself
    def on_start(self) -> None:
        self.path, self.query = random.choice(VIEWS)
        self.prefix = PREFIX[self.path]
        self.ticks = 0
        self.deps: dict[str, dict] = {}
        self.drawn = None
        self.state = None
        self._open_page()

    def _callback(self, key: str, inputs: list, state: list | None = None, name: str = "callback"):
        body = request_body(self.deps[key], inputs, state)
        token = next((c.value for c in self.client.cookiejar if c.name == "_csrf_token"), None)
        headers = {"X-CSRFToken": token} if token else {}
        with self.client.post("/_dash-update-component", json=body, headers=headers, name=name,
                              catch_response=True) as response:  # fmt: skip
            if response.status_code == 204:  # PreventUpdate
                response.success()
                return {}
            if response.status_code != 200:
                response.failure(f"{key}: HTTP {response.status_code}")
                return None
            return json.loads(response.content).get("response", {})

    def _dependency_keys(self) -> None:
        self.deps = page_callbacks(self.client.get("/_dash-dependencies", name="dash layout").json(), self.prefix)

    def _draw(self, fp: dict, timing: str) -> float:
        """The draw (and a separate baseline callback in parallel, as the browser, where a version has one); returns
        the draw's end time."""
        started = time.perf_counter()
        baseline = gevent.spawn(self._callback, "baseline", [fp]) if "baseline" in self.deps else None
        drawn = self._callback("draw", [fp]) or {}
        done = time.perf_counter()
        if baseline is not None:
            drawn = baseline.get() or {}
        self.drawn = drawn.get(f"{self.prefix}-drawn", {}).get("data", self.drawn)
        self.environment.events.request.fire(request_type="TIMING", name=timing, response_time=(done - started) * 1000,
                                             response_length=0, exception=None, context={})  # fmt: skip
        return done

    def _open_page(self) -> None:
        started = time.perf_counter()
        self.client.get(f"{self.path}?{self.query}", name="page html")
        self.client.get("/_dash-layout", name="dash layout")
        self._dependency_keys()
        content = self._callback("pages", [self.path, f"?{self.query}"])
        if not content:
            raise StopUser()
        fp = find(content, f"{self.prefix}-fp")["data"]
        self.state = find(content, f"{self.prefix}-state")["data"]
        self._draw(fp, "chart draw")
        total = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(request_type="TIMING", name="page load", response_time=total,
                                             response_length=0, exception=None, context={})  # fmt: skip
        if "options" in self.deps:
            self._callback("options", [self.drawn], [[]] * len(self.deps["options"]["state"]))

    @task
    def refresh_tick(self) -> None:
        """Wait for the next tick, then check (and redraw when told to, or always with ALPHAPULSE_BENCH_REDRAW)."""
        gevent.sleep(TICK_SECONDS)
        self.ticks += 1
        answer = self._callback("check", [self.state, self.ticks], [self.drawn]) or {}
        request = answer.get(f"{self.prefix}-fp", {}).get("data")
        if REDRAW:
            tick = int(time.time() // TICK_SECONDS)
            request = {"query": self.state["query"], "state": self.state, "now": datetime.now(UTC).isoformat(),
                       "fp": {"tick": tick}}
        if request:
            self._draw(request, "chart redraw")
