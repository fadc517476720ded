"""The figure builders return plain dicts and skip plotly's validation for speed and memory (``app.figures``): on
recorded data (bundled history, queried through ``db.queries``) every figure they build must pass plotly's full
validation unchanged (same JSON), and carry the data it was given (last points equal the query's values)."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from sqlalchemy import text

from app import figures
from app.figures import anomaly_scatter, feed_lag_figure, funding_figure, metric_figure, price_figure
from db import health, queries

EXCHANGES = ["binanceusdm", "bybit"]
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


@pytest.fixture(scope="module")
def newest(recorded_engine):
    with recorded_engine.connect() as conn:
        return conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' AND symbol = ANY(:s)"),
                            {"s": SYMBOLS}).scalar() + timedelta(minutes=1)  # fmt: skip


def valid_and_unchanged(fig: dict) -> go.Figure:
    """``fig`` as a validated ``go.Figure`` (raises ValueError on any property plotly does not know), after checking
    that validation changes nothing in the JSON sent to the browser."""
    assert isinstance(fig, dict)
    validated = go.Figure(fig)
    assert json.loads(pio.to_json(validated)) == json.loads(pio.to_json(fig))
    return validated


def test_template_is_plotlys_own():
    assert pio.templates[figures.TEMPLATE].to_plotly_json() == figures.TEMPLATE_JSON


@pytest.mark.parametrize("span", [timedelta(hours=6), timedelta(days=7), timedelta(days=30)])
@pytest.mark.parametrize("symbols", [SYMBOLS, SYMBOLS[:1]])
def test_fast_figures_pass_plotly_validation_and_keep_the_data(recorded_engine, newest, span, symbols):
    start = newest - span
    bucket = queries.choose_bucket(start, newest)
    with recorded_engine.connect() as conn:
        funding = queries.funding_series(conn, EXCHANGES, symbols, start - timedelta(days=60), newest,
                                         queries.choose_bucket(start - timedelta(days=60), newest))  # fmt: skip
        prices = queries.price_series(conn, ["binanceusdm"], symbols, start, newest, bucket)
        anomalies = queries.anomaly_rows(conn, EXCHANGES, symbols, start - timedelta(days=60), newest, limit=5000)
    assert not funding.empty and not prices.empty and not anomalies.empty
    for mode in ("interval", "annual"):
        valid_and_unchanged(funding_figure(funding, mode, bucket, "v", anomalies))
    fig = valid_and_unchanged(funding_figure(funding, "interval", bucket, "v"))
    for trace in fig.data:
        meta = trace.meta
        rows = funding[(funding["exchange"] == meta["exchange"]) & (funding["symbol"] == meta["symbol"])
                       & (funding["settled"] == meta["settled"])]  # fmt: skip
        assert trace.y[-1] == pytest.approx(rows["funding_rate"].iloc[-1] * 100, rel=1e-12)
    fig = valid_and_unchanged(price_figure(prices, bucket, "v", anomalies))
    series = [t for t in fig.data if t.meta]
    assert len(series) == len(symbols)
    last = prices.groupby("symbol")["close"].last()
    for trace in series:
        if trace.type == "candlestick":
            assert trace.close[-1] == last[trace.meta["symbol"]]
        else:
            first_close = prices[prices["symbol"] == trace.meta["symbol"]]["close"].iloc[0]
            assert trace.y[0] == 0
            assert trace.y[-1] == pytest.approx((last[trace.meta["symbol"]] / first_close - 1) * 100, rel=1e-12)


def test_anomaly_and_system_figures_pass_plotly_validation_and_keep_the_data(recorded_engine, newest):
    start = newest - timedelta(days=30)
    with recorded_engine.connect() as conn:
        anomalies = queries.anomaly_rows(conn, EXCHANGES, SYMBOLS, start, newest, limit=5000)
        feeds = queries.feed_health(conn, newest + timedelta(minutes=5), [*EXCHANGES, "no-such-exchange"],
                                    cadences={"funding": 60.0, "ohlcv": 60.0}).feeds  # fmt: skip
        prices = queries.price_series(conn, EXCHANGES, SYMBOLS[:1], newest - timedelta(hours=6), newest,
                                      timedelta(minutes=1))  # fmt: skip
    assert not anomalies.empty
    scatter = valid_and_unchanged(anomaly_scatter(anomalies, "v"))
    assert [t.name for t in scatter.data] == sorted(anomalies["metric"].unique())
    for trace in scatter.data:
        rows = anomalies[anomalies["metric"] == trace.name]
        assert list(trace.y) == list(rows["z_score"]) and len(trace.customdata) == len(rows)
    lag = valid_and_unchanged(feed_lag_figure(feeds, health.OK_CADENCES, health.DOWN_CADENCES, "feeds"))
    assert list(lag.data[0].text).count("no data") == feeds["lag_seconds"].isna().sum() > 0
    assert {s.x0 for s in lag.layout.shapes} == {health.OK_CADENCES, health.DOWN_CADENCES}
    # a metric-series-shaped frame (time, value, one label column per split) derived from recorded volumes,
    # with a stretch of buckets removed so the line must break
    hole = (prices["time"] >= newest - timedelta(hours=3)) & (prices["time"] < newest - timedelta(hours=2))
    series = prices[~hole].assign(value=prices["volume"], stream="ohlcv")
    for kind in ("lines", "bars"):
        fig = valid_and_unchanged(metric_figure(series, "volume", ("exchange", "stream"), "q", timedelta(minutes=1),
                                                kind))  # fmt: skip
        assert len(fig.data) == series["exchange"].nunique()
        for trace in fig.data:
            values = series[series["exchange"] == trace.name.split(" · ")[0]].sort_values("time")["value"]
            y = pd.Series(trace.y)
            assert (y.isna().sum() == 0) if kind == "bars" else (y.isna().sum() >= 1)
            assert float(y.dropna().iloc[-1]) == float(values.iloc[-1])


def test_anomaly_values_read_in_the_metrics_unit():
    from app.format import anomaly_value

    assert anomaly_value("funding_rate", 0.0001, 8.0) == "+0.0100 % / 8h (+1.00 bp) · +10.95 % / yr"
    assert anomaly_value("funding_rate", 0.0000125, 1.0) == "+0.0013 % / 1h (+0.12 bp) · +10.95 % / yr"
    assert anomaly_value("log_return_1m", math.log(1.01)) == "+1.000 %"
    assert anomaly_value("log_volume_1m", math.log(2500.0)) == "2,500 base units"
    assert anomaly_value("premium", -0.00035) == "-3.50 bp"


def test_anomaly_grid_has_one_row_per_observation_in_people_units(recorded_engine):
    from app.components import anomaly_rows_for_grid

    with recorded_engine.connect() as conn:
        end = conn.execute(text("SELECT max(time) FROM anomalies")).scalar_one() + timedelta(seconds=1)
        rows = queries.anomaly_rows(conn, None, None, end - timedelta(days=365), end, metrics=["funding_rate"],
                                    limit=200)
    grid = anomaly_rows_for_grid(rows)
    keys = [(r["time"], r["exchange"], r["symbol"], r["metric"]) for r in grid]
    assert len(grid) == len(rows) > 0 and len(set(keys)) == len(keys)
    for rec, shown in zip(rows.to_dict("records"), grid, strict=True):
        assert shown["value"].endswith("% / yr") and f"/ {rec['interval_hours']:g}h" in shown["value"]
        assert shown["abs_z"] == round(abs(rec["z_score"]), 2)
