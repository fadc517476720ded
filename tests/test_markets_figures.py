"""The Markets page's pure builders (issue 8, items 5–9) on the bundled real history: heatmap cells equal SQL bucket
values, the colour scale is centred at zero and clipped at the 98th percentile of |value|, rows order as chosen,
cross-venue rows and spreads equal SQL, charts pass plotly's validation, CSV downloads list every heatmap cell.

Frames are read with SQL written here on the recorded database (``recorded_engine``), never invented.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.io.json import to_json_plotly
from sqlalchemy import text

from app.controls import ViewState, parse_query, to_query
from app.downloads import figure_frame
from app.figures.heatmap import CLIP_PERCENTILE, heatmap_figure, row_order
from app.figures.markets import pair_figure, spread_figure
from app.markets.tables import accumulated_rows, cross_venue_rows, overview_link
from db.coins import coin_of

#: A week inside the bundled cross-venue funding year (2025-03-08 … 2026-03-07) and its open interest.
START, END = datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 2, 27, tzinfo=UTC)

_BUCKETS_SQL = """
SELECT time_bucket(CAST(:width AS interval), time) AS time, symbol,
       avg(funding_rate * 8760 / funding_interval_hours) AS annualised
FROM funding_rates
WHERE exchange = :exchange AND settled AND time >= :start AND time < :end AND funding_interval_hours > 0
GROUP BY 1, 2 ORDER BY 1, 2
"""

_LATEST_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, funding_rate, funding_interval_hours,
       funding_rate * 8760 / funding_interval_hours AS annualised, settled, next_funding_time
FROM funding_rates WHERE time < :end AND time >= :end - interval '2 days' AND funding_interval_hours > 0
ORDER BY exchange, symbol, time DESC
"""


def _frame(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text(sql), conn, params=params)
    for col in ("time", "next_funding_time"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


@pytest.fixture(scope="module")
def buckets(recorded_engine) -> pd.DataFrame:
    """Daily buckets of annualised settled funding on Bybit in the week, as the heatmap query's columns."""
    frame = _frame(recorded_engine, _BUCKETS_SQL, width="1 day", exchange="bybit", start=START, end=END)
    assert frame["symbol"].nunique() >= 5 and len(frame) >= 30  # the bundled coins, every day
    return frame.assign(coin=[coin_of(s).name for s in frame["symbol"]], venues=1)


def test_heatmap_cells_equal_the_sql_bucket_values(buckets):
    fig = heatmap_figure(buckets, "funding on bybit", "rev", order="coin", window=(START, END))
    go.Figure(fig)  # plotly validates every property
    trace = fig["data"][0]
    coins, times = list(trace["y"]), list(pd.to_datetime(trace["x"]).tz_localize(UTC))
    assert coins == sorted(buckets["coin"].unique())
    for row in buckets.itertuples():
        assert trace["z"][coins.index(row.coin)][times.index(row.time)] == pytest.approx(row.annualised * 100)
    assert np.isfinite(trace["z"]).sum() == len(buckets)  # no cell without its SQL row


def test_heatmap_colour_scale_is_centred_at_zero_and_clipped(buckets):
    trace = heatmap_figure(buckets, "funding on bybit", "rev")["data"][0]
    level = np.percentile(np.abs(buckets["annualised"].to_numpy() * 100), CLIP_PERCENTILE)
    assert trace["zmid"] == 0 and trace["zmin"] == pytest.approx(-level) and trace["zmax"] == pytest.approx(level)
    scale = dict((round(p, 2), c) for p, c in trace["colorscale"])
    assert scale[0.5] == "#f7f7f7"  # white at the scale's middle, which zmin = −zmax puts at zero
    assert "%/yr" in trace["colorbar"]["title"]["text"]


def test_heatmap_rows_follow_the_chosen_order(buckets):
    fig = heatmap_figure(buckets, "t", "rev", order="latest")
    last = buckets[buckets["time"] == buckets["time"].max()].sort_values("annualised", ascending=False)
    assert list(fig["data"][0]["y"]) == list(last["coin"])
    first_time = buckets["time"].min()
    column = buckets[buckets["time"] == first_time].sort_values("annualised", ascending=False)
    order = first_time.strftime("%Y-%m-%dT%H:%MZ")
    assert list(heatmap_figure(buckets, "t", "rev", order=order)["data"][0]["y"]) == list(column["coin"])
    oi = {c: float(i) for i, c in enumerate(sorted(buckets["coin"].unique()))}
    assert list(heatmap_figure(buckets, "t", "rev", order="oi", open_interest=oi)["data"][0]["y"]) == \
        sorted(oi, key=oi.get, reverse=True)  # fmt: skip
    assert row_order([], np.array([]), np.zeros((0, 0)), "latest") == []


def test_heatmap_downloads_every_cell_with_its_unit(buckets):
    fig = json.loads(to_json_plotly(heatmap_figure(buckets, "t", "rev")))  # as the browser sends it back
    rows = figure_frame(fig)
    value = next(c for c in rows.columns if c.startswith("value ("))
    assert "%/yr" in value and len(rows) == len(buckets)
    merged = rows.assign(time=pd.to_datetime(rows["time_utc"]).dt.tz_localize(UTC)).merge(
        buckets, left_on=["time", "series"], right_on=["time", "coin"])
    assert len(merged) == len(buckets)
    assert np.allclose(merged[value].astype(float), merged["annualised"] * 100)


def test_cross_venue_rows_equal_sql(recorded_engine):
    latest = _frame(recorded_engine, _LATEST_SQL, end=END)
    latest = latest.assign(coin=[coin_of(s).name for s in latest["symbol"]], premium_bp=np.nan,
                           open_interest_value=np.nan)  # fmt: skip
    venues = sorted(latest["exchange"].unique())
    assert len(venues) >= 4
    state = parse_query({"range": "7d", "end": "2026-02-27T00:00Z", "exchange": ",".join(venues)})
    rows, total = cross_venue_rows(latest, venues, lambda coin, symbols: overview_link(state, symbols))
    assert total == latest["coin"].nunique() == len(rows)
    for row in rows:
        mine = latest[latest["coin"] == row["coin"]]
        assert row["spread_pct"] == pytest.approx((mine["annualised"].max() - mine["annualised"].min()) * 100, abs=1e-3)
        for venue in mine.itertuples():
            assert row[venue.exchange] == pytest.approx(venue.annualised * 100, abs=1e-3)
            assert f"{venue.funding_interval_hours:g}h" in row[f"{venue.exchange}_tip"]
        linked = parse_query(dict(p.split("=", 1) for p in row["link"][2:].split("&")))
        assert set(linked.symbols) == set(mine["symbol"]) and linked.end == state.end and linked.range == "7d"


def test_view_state_round_trips_the_markets_parameters():
    state = parse_query({"min_oi": "5e6", "venue": "Bybit", "order": "2026-02-21T08:00Z", "range": "7d"})
    assert (state.min_oi, state.venue, state.order, state.problems) == (5e6, "bybit", "2026-02-21T08:00Z", ())
    assert parse_query(dict(p.split("=", 1) for p in to_query(state).split("&"))) == state
    bad = parse_query({"min_oi": "-1", "venue": "by bit", "order": "sideways"})
    assert bad == ViewState() and len(bad.problems) == 3


def test_accumulated_rows_sum_settled_rates(recorded_engine):
    sums = _frame(recorded_engine, """
        SELECT exchange, symbol, sum(funding_rate) AS accumulated, count(*) AS settlements,
               max(funding_interval_hours) AS funding_interval_hours,
               sum(funding_rate) * 8760 / (count(*) * max(funding_interval_hours)) AS annualised
        FROM funding_rates WHERE settled AND time >= :start AND time < :end GROUP BY 1, 2""", start=START, end=END)
    rows = accumulated_rows(sums.assign(coin=[coin_of(s).name for s in sums["symbol"]]))
    assert len(rows) == len(sums) and [r["accumulated_pct"] for r in rows] == sorted(
        (r["accumulated_pct"] for r in rows), reverse=True)
    hourly = [r for r in rows if r["exchange"] == "hyperliquid"]
    assert hourly and all(r["settlements"] == 7 * 24 and r["interval_h"] == 1 for r in hourly)


def test_pair_and_spread_charts_pass_plotly_validation(recorded_engine):
    oi = _frame(recorded_engine, """
        SELECT time_bucket('1 hour', time) AS time, exchange, symbol, last(open_interest_value, time)
               AS open_interest_value
        FROM open_interest WHERE symbol LIKE 'BTC/%' AND time >= :start AND time < :end GROUP BY 1, 2, 3
        ORDER BY 2, 3, 1""", start=START, end=END)
    assert len(oi) > 0
    fig = pair_figure(oi, "open_interest_value", timedelta(hours=1), "rev", (START, END))
    go.Figure(fig)
    assert {t["meta"]["exchange"] for t in fig["data"]} == set(oi["exchange"])
    assert "quote value" in fig["layout"]["yaxis"]["title"]["text"]
    legs = _frame(recorded_engine, """
        SELECT l.time, l.funding_rate * 8760 / l.funding_interval_hours AS long_annualised,
               s.funding_rate * 8760 / s.funding_interval_hours AS short_annualised
        FROM funding_rates l JOIN funding_rates s ON s.time = l.time AND s.symbol = l.symbol AND s.exchange = 'okx'
        WHERE l.exchange = 'bybit' AND l.symbol = 'BTC/USDT:USDT' AND l.settled AND s.settled
          AND l.time >= :start AND l.time < :end ORDER BY 1""", start=START, end=END)
    legs["spread_annualised"] = legs["short_annualised"] - legs["long_annualised"]
    fig = spread_figure(legs, "BTC", "bybit", "okx", "rev", (START, END))
    go.Figure(fig)
    spread = next(t for t in fig["data"] if t["name"].startswith("spread"))
    assert np.allclose(spread["y"], legs["spread_annualised"] * 100)


_SERIES_SQL = """
SELECT time_bucket(interval '1 hour', time) AS time, exchange, symbol,
       avg(funding_rate) * 8760 / last(funding_interval_hours, time) AS annualised
FROM funding_rates
WHERE settled AND time >= :start AND time < :end AND funding_interval_hours > 0 AND symbol = ANY(:symbols)
GROUP BY 1, 2, 3
"""


def test_overview_series_heatmap_cells_equal_sql(recorded_engine):
    """The Overview's heatmap of many series (issue 8, item 7): one row per exchange + symbol, every settled cell
    equal to the hour's settled rate annualised with that pair's own interval, computed here in SQL."""
    from app.figures.heatmap import series_frame
    from db.queries import funding_series

    symbols = [f"{c}/USDT:USDT" for c in ("BTC", "ETH", "SOL", "DOGE", "HYPE")]
    with recorded_engine.connect() as conn:
        funding = funding_series(conn, None, symbols, START, END, timedelta(hours=1))
    frame = series_frame(funding[funding["settled"]])
    fig = heatmap_figure(frame, "funding of the series", "rev", "coin", None, (START, END), row_title="Series")
    go.Figure(fig)  # valid for plotly
    trace = fig["data"][0]
    expected = _frame(recorded_engine, _SERIES_SQL, start=START, end=END, symbols=symbols)
    assert len(trace["y"]) == expected.groupby(["exchange", "symbol"]).ngroups >= 10
    assert fig["layout"]["yaxis"]["title"]["text"] == "Series"
    column = {pd.Timestamp(t): j for j, t in enumerate(trace["x"])}
    for row in expected.itertuples():
        i = trace["y"].index(f"{row.symbol.split(':')[0]} · {row.exchange}")
        j = column[row.time.tz_convert(None)]
        assert trace["z"][i][j] == pytest.approx(row.annualised * 100, rel=1e-9)
    assert np.isfinite(np.array(trace["z"], dtype="float64")).sum() == len(expected)
