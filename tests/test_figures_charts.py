"""Issue 11, items 7 and 9-13: what the funding and price charts show, on the bundled real history (queried through
``db.queries`` like the pages do, expectations computed with independent SQL or from the recorded rows).

Colours stay with their series; charts span the view's window; settled funding is a step over the interval each
rate pays for; anomaly markers sit on the line they mark; the funding basis defaults to annualised when the
selected pairs' intervals differ.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import pytest
from sqlalchemy import text

from app import controls
from app.figures import (
    MAX_MARKERS,
    funding_basis,
    funding_figure,
    metric_figure,
    price_figure,
    series_colour,
    series_label,
)
from app.figures.colours import contrast
from app.figures.common import DATE_TICKS, plotly_time
from db import queries
from ingest.recorded import read_funding, read_klines_1m
from settings import PROJECT_ROOT

#: The cross-venue year of the bundled history (funding only; Binance prices are 2025-05-25 -> 2025-06-24).
YEAR = (datetime(2025, 3, 8, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC))
WEEK = (datetime(2025, 6, 13, tzinfo=UTC), datetime(2025, 6, 20, tzinfo=UTC))
DARK = "#212529"


@pytest.fixture(scope="module")
def recorded_funding() -> pd.DataFrame:
    """Every recorded settled funding row (all venues and coins)."""
    return read_funding()


def _colours(fig: dict) -> dict:
    """``{(exchange, symbol): colour}`` of a figure's series traces (each series' traces share one colour)."""
    found = {}
    for trace in fig["data"]:
        if trace.get("meta"):
            key = (trace["meta"]["exchange"], trace["meta"]["symbol"])
            assert found.setdefault(key, trace["line"]["color"]) == trace["line"]["color"]
    return found


def test_a_series_keeps_its_colour_whatever_else_is_selected(recorded_funding):
    """Adding series (in any order) recolours none of the others; every bundled pair has a colour of its own,
    readable on a light and a dark background (3:1, WCAG 2.1 SC 1.4.11)."""
    pairs = list(recorded_funding.groupby(["exchange", "symbol"]).groups)
    first = pairs[:2]
    alone = _colours(funding_figure(_rows(recorded_funding, first), "annual", timedelta(hours=1), "v"))
    for more in (pairs, pairs[::-1], [*first, pairs[-1]]):
        shown = _colours(funding_figure(_rows(recorded_funding, more), "annual", timedelta(hours=1), "v"))
        assert {key: shown[key] for key in first} == alone
    colours = {series_colour(*pair) for pair in pairs}
    assert len(colours) == len(pairs)
    for pair, background in itertools.product(pairs, ("#ffffff", DARK)):
        assert contrast(series_colour(*pair, background=background), background) >= 3.0


def _rows(frame: pd.DataFrame, pairs: list) -> pd.DataFrame:
    keys = pd.MultiIndex.from_frame(frame[["exchange", "symbol"]])
    return frame[keys.isin(pairs)]


def test_series_colours_are_the_same_in_every_process():
    """The colour comes from a hash that Python does not salt per process (``PYTHONHASHSEED`` differs)."""
    code = "from app.figures import series_colour; print(series_colour('kucoinfutures', 'WIF/USDT:USDT'))"
    seen = {
        subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env={"PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        for seed in ("1", "2")
    }
    assert seen == {series_colour("kucoinfutures", "WIF/USDT:USDT")}


def test_funding_and_price_charts_colour_a_series_alike_and_span_the_window(recorded_engine):
    """Both charts of a view span exactly its window (these symbols' candles start months into it: BNB and XRP
    have a month of 1-minute candles, HYPE was listed in May), the same series has the same colour on both, and
    each % change line starts at 0."""
    symbols = ["BNB/USDT:USDT", "XRP/USDT:USDT", "HYPE/USDT:USDT"]
    bucket = queries.choose_bucket(*YEAR)
    with recorded_engine.connect() as conn:
        funding = queries.funding_series(conn, ["binanceusdm"], symbols, *YEAR, bucket)
        prices = queries.price_series(conn, ["binanceusdm"], symbols, *YEAR, bucket)
    fund = go.Figure(funding_figure(funding, "interval", bucket, "v", window=YEAR))
    price = go.Figure(price_figure(prices, bucket, "v", window=YEAR))
    for fig in (fund, price):
        assert list(fig.layout.xaxis.range) == [plotly_time(YEAR[0]), plotly_time(YEAR[1])]
    assert prices["time"].min() > YEAR[0] + timedelta(days=60)  # the data alone would not span the window
    fund_colours = {(t.meta["exchange"], t.meta["symbol"]): t.line.color for t in fund.data if t.meta}
    price_colours = {(t.meta["exchange"], t.meta["symbol"]): t.line.color for t in price.data if t.meta}
    assert price_colours == {key: fund_colours[key] for key in price_colours} and len(price_colours) == 3
    for trace in (t for t in price.data if t.meta):
        assert trace.y[0] == 0


def _segments(trace) -> set[tuple]:
    """Horizontal segments ``(x0, x1, y)`` of a step trace (consecutive points of one value, apart in time)."""
    x, y = pd.to_datetime(pd.Series(trace.x)), pd.Series(trace.y, dtype="float64")
    return {(x[i], x[i + 1], y[i]) for i in range(len(x) - 1) if y[i] == y[i + 1] and x[i] < x[i + 1]}


@pytest.mark.parametrize(
    ("window", "bucket"), [(WEEK, timedelta(minutes=15)), (YEAR, timedelta(hours=8)), (YEAR, timedelta(days=1))]
)
def test_settled_funding_is_a_step_over_the_intervals_each_rate_pays_for(recorded_engine, window, bucket):
    """A settled rate holds over the interval that ends at its settlement; a bucket's mean over the intervals its
    settlements end: segment [b − h, b − h + max(bucket, h)] at the bucket's mean (SQL ``avg`` here)."""
    pairs = [("binanceusdm", "BTC/USDT:USDT"), ("hyperliquid", "BTC/USDC:USDC")]
    with recorded_engine.connect() as conn:
        funding = queries.funding_series(conn, [e for e, _ in pairs], [s for _, s in pairs], *window, bucket)
        expected = conn.execute(text(
            "SELECT exchange, symbol, time_bucket(CAST(:w AS interval), time) b, avg(funding_rate) r, "
            "max(funding_interval_hours) h FROM funding_rates WHERE settled AND (exchange, symbol) IN "
            "(('binanceusdm', 'BTC/USDT:USDT'), ('hyperliquid', 'BTC/USDC:USDC')) AND time >= :s AND time < :e "
            "GROUP BY 1, 2, 3"
        ), {"w": bucket, "s": window[0], "e": window[1]}).all()  # fmt: skip
    fig = go.Figure(funding_figure(funding, "interval", bucket, "v", window=window))
    for exchange, symbol in pairs:
        trace = next(t for t in fig.data if t.meta == {"exchange": exchange, "symbol": symbol, "settled": True})
        assert trace.line.shape == "hv"
        want = {
            (b.replace(tzinfo=None) - timedelta(hours=h), b.replace(tzinfo=None) - timedelta(hours=h)
             + max(bucket, timedelta(hours=h)), r * 100)
            for e, s, b, r, h in expected if (e, s) == (exchange, symbol)
        }  # fmt: skip
        got = _segments(trace)
        assert len(got) == len(want) > 3
        for (x0, x1, y), (w0, w1, wy) in zip(sorted(got), sorted(want), strict=True):
            assert (x0, x1) == (w0, w1) and y == pytest.approx(wy, rel=1e-9)


def test_funding_anomaly_markers_sit_on_the_line_they_mark(recorded_engine):
    """One-year view in 1-day buckets, annualised: each funding anomaly marker is at its series' daily mean of that
    day (SQL), not at its own settled rate (which was up to ~80 %/yr away from the line)."""
    exchanges, symbols = ["binanceusdm", "hyperliquid"], ["BTC/USDT:USDT", "BTC/USDC:USDC"]
    bucket = timedelta(days=1)
    with recorded_engine.connect() as conn:
        funding = queries.funding_series(conn, exchanges, symbols, *YEAR, bucket)
        marks = queries.anomaly_rows(conn, exchanges, symbols, *YEAR, metrics=["funding_rate"], limit=MAX_MARKERS,
                                     strongest=True)  # fmt: skip
        day_mean = {
            (e, s, pd.Timestamp(b).tz_convert(UTC)): r * 100 * 24 * 365 / h
            for e, s, b, r, h in conn.execute(text(
                "SELECT exchange, symbol, time_bucket('1 day', time), avg(funding_rate), max(funding_interval_hours) "
                "FROM funding_rates WHERE settled AND exchange = ANY(:e) AND symbol = ANY(:s) AND time >= :a "
                "AND time < :b GROUP BY 1, 2, 3"
            ), {"e": exchanges, "s": symbols, "a": YEAR[0], "b": YEAR[1]})
        }  # fmt: skip
    assert len(marks) > 3
    fig = go.Figure(funding_figure(funding, "annual", bucket, "v", marks, window=YEAR))
    markers = next(t for t in fig.data if t.mode == "markers")
    labels = {series_label(e, s): (e, s) for e, s in zip(exchanges, symbols, strict=True)}
    shown = {(labels[c[0]], pd.Timestamp(x, tz=UTC)): y for x, y, c in zip(markers.x, markers.y, markers.customdata,
                                                                           strict=True)}  # fmt: skip
    assert len(shown) == len(marks)
    off_line = 0
    for row in marks.itertuples():
        y = shown[((row.exchange, row.symbol), row.time.tz_convert(UTC))]
        assert y == pytest.approx(day_mean[(row.exchange, row.symbol, row.time.floor("1D"))], rel=1e-9)
        off_line += abs(y - row.value * 100 * 24 * 365 / row.interval_hours) > 10
    assert off_line > 0  # the case of the issue: raw values far from the daily line


def test_funding_basis_is_annualised_when_the_selected_intervals_differ(recorded_funding):
    """``auto`` (no choice in the link) annualises Binance 8 h beside Hyperliquid 1 h and says why; one interval
    stays per interval; an explicit choice is kept (and in the link), with a warning when it compares unlike."""
    mixed = _rows(recorded_funding, [("binanceusdm", "BTC/USDT:USDT"), ("hyperliquid", "BTC/USDC:USDC")])
    same = _rows(recorded_funding, [("binanceusdm", "BTC/USDT:USDT"), ("bybit", "BTC/USDT:USDT")])
    mode, note = funding_basis("auto", mixed)
    assert mode == "annual" and "1 h and 8 h" in note
    assert funding_basis("auto", same) == ("interval", "Per interval: every selected pair settles every 8 h.")
    mode, note = funding_basis("interval", mixed)
    assert mode == "interval" and "differ" in note
    assert funding_basis("annual", mixed) == ("annual", "")
    with pytest.raises(ValueError, match="funding basis"):
        funding_basis("bogus", mixed)
    assert controls.parse_query({}).funding == controls.AUTO_FUNDING
    assert "funding" not in controls.to_query(controls.parse_query({"symbols": "BTC"}))
    chosen = controls.parse_query({"funding": "interval"})
    assert chosen.funding == "interval" and controls.to_query(chosen) == "funding=interval"
    store = controls.initial_store(controls.with_defaults(controls.parse_query({})))
    assert controls.state_from_store(store).funding == controls.AUTO_FUNDING


def test_legends_show_with_one_trace_where_they_name_something(recorded_funding):
    """"Fetch errors by class" with one class: the legend names it (plotly hides a lone trace's legend); so does
    the legend of a funding or price chart of one series; a metric not split by labels has none."""
    candles = read_klines_1m()
    btc = candles[candles["symbol"] == "BTC/USDT:USDT"].head(120)
    one = _rows(recorded_funding, [("binanceusdm", "BTC/USDT:USDT")])
    assert go.Figure(funding_figure(one, "interval", timedelta(hours=1), "v")).layout.showlegend is True
    assert go.Figure(price_figure(btc, timedelta(minutes=1), "v")).layout.showlegend is True
    whole = btc.assign(value=btc["volume"])[["time", "value"]]
    assert go.Figure(metric_figure(whole, "rows", (), "q", timedelta(minutes=1))).layout.showlegend is False
    frame = btc.assign(value=btc["volume"], error="NetworkError")[["time", "value", "error"]]
    fig = go.Figure(metric_figure(frame, "errors per bucket", ("error",), "q", timedelta(minutes=1), "bars"))
    assert fig.layout.showlegend is True and [t.name for t in fig.data] == ["NetworkError"]
    assert fig.data[0].marker.color == series_colour("NetworkError", "NetworkError")


def test_date_ticks_have_a_compact_format_for_every_spacing():
    """Every tick spacing from sub-second to years has a format (tick labels never fall back to plotly's wide
    ones), and the stops meet without holes."""
    stops = DATE_TICKS["tickformatstops"]
    assert stops[0]["dtickrange"][0] is None and stops[-1]["dtickrange"][1] is None
    for before, after in itertools.pairwise(stops):
        assert before["dtickrange"][1] == after["dtickrange"][0]
    assert all(len(s["value"].split("<br>")[0]) <= len("%H:%M:%S.%L") for s in stops)


def test_a_missing_settlement_leaves_a_gap_in_the_step(recorded_funding):
    """Five recorded Binance BTC settlements removed (times floored to 15-minute buckets, as ``funding_series``
    gives them): the step breaks once there, and no segment covers the missing intervals."""
    btc = recorded_funding[(recorded_funding["exchange"] == "binanceusdm")
                           & (recorded_funding["symbol"] == "BTC/USDT:USDT")].sort_values("time").head(40)  # fmt: skip
    btc = btc.assign(time=btc["time"].dt.floor("15min"))
    holed = btc.drop(index=btc.index[10:15])
    fig = go.Figure(funding_figure(holed, "interval", timedelta(minutes=15), "v"))
    (trace,) = fig.data
    assert pd.Series(trace.y).isna().sum() == 1
    hole = (btc["time"].iloc[9], btc["time"].iloc[14])  # the intervals the removed settlements paid for
    segments = _segments(trace)
    assert len(segments) == len(holed)
    assert not any(x0 < hole[1].tz_convert(None) and x1 > hole[0].tz_convert(None) for x0, x1, _ in segments)
