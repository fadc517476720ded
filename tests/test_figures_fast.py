"""The overview's figure builders skip plotly's validation for speed (``app.figures._figure``): on recorded data
(bundled history, queried through ``db.queries``) every figure they build must pass plotly's full validation
unchanged (same JSON), and carry the data it was given (last points equal the query's values)."""

from __future__ import annotations

import json
from datetime import timedelta

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from sqlalchemy import text

from app.figures import funding_figure, price_figure
from db import queries

EXCHANGES = ["binanceusdm", "bybit"]
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


@pytest.fixture(scope="module")
def newest(recorded_engine):
    with recorded_engine.connect() as conn:
        return conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' AND symbol = ANY(:s)"),
                            {"s": SYMBOLS}).scalar() + timedelta(minutes=1)  # fmt: skip


def assert_valid_and_unchanged(fig: go.Figure) -> None:
    validated = go.Figure(fig.to_dict())  # raises ValueError on any property plotly does not know
    assert json.loads(pio.to_json(validated)) == json.loads(pio.to_json(fig))


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
        fig = funding_figure(funding, mode, bucket, "v", anomalies)
        assert_valid_and_unchanged(fig)
    fig = funding_figure(funding, "interval", bucket, "v")
    for trace in fig.data:
        meta = trace.meta
        rows = funding[(funding["exchange"] == meta["exchange"]) & (funding["symbol"] == meta["symbol"])
                       & (funding["settled"] == meta["settled"])]  # fmt: skip
        assert trace.y[-1] == pytest.approx(rows["funding_rate"].iloc[-1] * 100, rel=1e-12)
    fig = price_figure(prices, bucket, "v", anomalies)
    assert_valid_and_unchanged(fig)
    series = [t for t in fig.data if t.meta]
    assert len(series) == len(symbols)
    last = prices.groupby("symbol")["close"].last()
    for trace in series:
        if trace.type == "candlestick":
            assert trace.close[-1] == last[trace.meta["symbol"]]
        else:
            first_open = prices[prices["symbol"] == trace.meta["symbol"]]["open"].iloc[0]
            assert trace.y[-1] == pytest.approx((last[trace.meta["symbol"]] / first_open - 1) * 100, rel=1e-12)
