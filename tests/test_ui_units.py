"""Unit tests of the UI's pure parts: number formatting, URL state, figure builders (no browser, no database).

Inputs are taken from the bundled recorded data (``data/recorded``) where values matter, so expectations are
derived from real rows rather than typed in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app import controls
from app import format as fmt
from app.figures import GAP_FACTOR, empty_figure, strongest, with_gaps
from app.figures import funding_figure as funding_dict
from app.figures import price_figure as price_dict
from ingest.recorded import read_funding, read_klines_1m


@pytest.fixture(scope="module")
def funding() -> pd.DataFrame:
    """Recorded settled Binance funding of BTC and SOL (fractions per interval, intervals inferred by ingest)."""
    frame = read_funding()
    keep = frame["exchange"].eq("binanceusdm") & frame["symbol"].isin(["BTC/USDT:USDT", "SOL/USDT:USDT"])
    return frame[keep].sort_values("time").reset_index(drop=True)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    """One recorded day of BTC 1-minute candles."""
    frame = read_klines_1m()
    btc = frame[frame["symbol"] == "BTC/USDT:USDT"].sort_values("time")
    return btc[btc["time"] < btc["time"].iloc[0] + pd.Timedelta(days=1)].reset_index(drop=True)


def test_annualise_uses_each_symbols_own_interval(funding):
    row = funding.iloc[-1]
    rate, hours = float(row["funding_rate"]), float(row["funding_interval_hours"])
    assert fmt.annualise(rate, hours) == pytest.approx(rate * (24 / hours) * 365)
    assert fmt.annualise(rate, 4) == pytest.approx(2 * fmt.annualise(rate, 8))
    with pytest.raises(ValueError, match="positive"):
        fmt.annualise(rate, 0)


def test_formatters_carry_units_and_never_print_nan():
    assert fmt.pct(0.0001) == "+0.0100 %"
    assert fmt.bps(0.0001) == "+1.00 bp"
    assert fmt.funding_text(0.0001, 8, "interval") == "+0.0100 % / 8h (+1.00 bp)"
    assert fmt.funding_text(0.0001, 8, "annual") == "+10.95 % / yr"
    assert fmt.funding_text(float("nan"), 8, "annual") == fmt.MISSING
    assert fmt.price(107282.44) == "107,282.4"
    assert fmt.price(None) == fmt.MISSING
    assert fmt.duration(timedelta(hours=3, minutes=12)) == "3 h 12 min"
    assert fmt.duration(timedelta(seconds=-5)) == "overdue"
    assert fmt.span_label(timedelta(days=7)) == "7 d"
    assert fmt.span_label(timedelta(hours=24)) == "24 h"


def test_query_round_trip_and_bad_parameters_are_reported_not_fatal():
    state = controls.parse_query(
        {"symbols": "btc,ETH/USDT", "exchange": "binanceusdm", "range": "7d", "end": "2025-06-20T00:00Z",
         "refresh": "30", "funding": "annual", "metric": "log_volume_1m", "min_z": "6"}
    )  # fmt: skip
    assert state.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT") and state.problems == ()
    assert controls.parse_query(dict(pair.split("=", 1) for pair in controls.to_query(state).split("&"))) == state
    assert state.window(datetime(2030, 1, 1, tzinfo=UTC)) == (
        datetime(2025, 6, 13, tzinfo=UTC),
        datetime(2025, 6, 20, tzinfo=UTC),
    )
    bad = controls.parse_query({"range": "2y", "refresh": "7", "end": "yesterday", "symbols": "BTC USDT"})
    assert bad == controls.ViewState() and len(bad.problems) == 4
    assert any("range='2y'" in p for p in bad.problems)
    custom = controls.parse_query({"range": "custom", "start": "2025-06-10", "end": "2025-06-01"})
    assert custom.range == controls.DEFAULT_RANGE and custom.problems


@pytest.mark.parametrize(
    "end",
    ["0001-01-02T00:00Z", "0001-01-01T00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:00Z", "2200-01-01"],
)
def test_links_with_times_outside_the_supported_years_are_reported_not_fatal(end):
    """Issue 12, item 2: such a link keeps the default range and says why; nothing overflows."""
    state = controls.parse_query({"end": end, "range": "30d"})
    assert state.end is None and len(state.problems) == 1 and "end=" in state.problems[0]
    assert state.window(datetime(2026, 1, 1, tzinfo=UTC))[1] == datetime(2026, 1, 1, tzinfo=UTC)
    custom = controls.parse_query({"range": "custom", "start": end, "end": "2025-06-01"})
    assert custom.range == controls.DEFAULT_RANGE and custom.problems


@pytest.mark.parametrize(
    "value",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 30, tzinfo=UTC),
        datetime(2025, 6, 1, 8, tzinfo=UTC),
    ],
)
def test_format_time_is_read_back_by_parse_time(value):
    text = controls.format_time(value)
    assert len(text.split("-")[0]) == 4 and controls.parse_time(text, "end") == value
    assert controls.format_time(datetime(1, 1, 2, tzinfo=UTC)) == "0001-01-02T00:00Z"  # was "1-01-02T00:00Z"


def test_controls_produce_the_same_state_the_layout_starts_with():
    state = controls.with_defaults(
        controls.parse_query({"range": "custom", "start": "2025-06-01", "end": "2025-06-08"})
    )
    assert state.symbols == controls.DEFAULT_SYMBOLS and state.defaulted
    store = controls.initial_store(state)
    assert controls.state_from_store(store) == controls.state_from_controls(controls.control_values(state))
    assert store["start"] == "2025-06-01T00:00Z" and store["end"] == "2025-06-08T00:00Z"


def funding_figure(*args, **kwargs) -> go.Figure:
    """:func:`app.figures.funding_figure` validated by plotly (raises ValueError on unknown properties)."""
    return go.Figure(funding_dict(*args, **kwargs))


def price_figure(*args, **kwargs) -> go.Figure:
    """:func:`app.figures.price_figure` validated by plotly (raises ValueError on unknown properties)."""
    return go.Figure(price_dict(*args, **kwargs))


def test_with_gaps_breaks_lines_only_at_missing_buckets(candles):
    holed = candles.drop(index=range(100, 130)).reset_index(drop=True)  # 30 recorded minutes removed
    times = holed["time"].dt.tz_convert(None).to_numpy()
    gapped_times, gapped_close = with_gaps(times, timedelta(minutes=1), holed["close"].to_numpy())
    assert len(gapped_times) == len(gapped_close) == len(holed) + 1
    assert np.isnan(gapped_close).sum() == 1
    at = int(np.flatnonzero(np.isnan(gapped_close))[0])
    assert gapped_times[at] == times[at - 1] + np.timedelta64(timedelta(minutes=1))
    whole = candles["time"].dt.tz_convert(None).to_numpy()
    assert with_gaps(whole, timedelta(minutes=1), candles["close"].to_numpy())[0] is whole
    with pytest.raises(ValueError, match="positive"):
        with_gaps(whole, timedelta(0))
    assert GAP_FACTOR > 1


def test_empty_figure_is_a_valid_plain_dict_with_the_message():
    fig = empty_figure("No prices in this range", height=140)
    assert isinstance(fig, dict) and fig["data"] == []
    validated = go.Figure(fig)
    assert validated.layout.annotations[0].text == "No prices in this range"
    assert validated.layout.height == 140 and validated.layout.xaxis.visible is False


def _last(values) -> float:
    return float(pd.Series(values).dropna().iloc[-1])


def test_funding_figure_has_zero_line_units_and_settled_steps(funding):
    fig = funding_figure(funding, "interval", timedelta(minutes=15), "view")
    assert {t.meta["symbol"] for t in fig.data} == {"BTC/USDT:USDT", "SOL/USDT:USDT"}
    assert all(t.connectgaps is False and t.mode == "lines" and t.line.shape == "hv" for t in fig.data)
    assert fig.layout.yaxis.title.text == "Funding rate (% per funding interval)"
    assert fig.layout.xaxis.title.text == "Time (UTC)"
    assert any(s.y0 == 0 and s.y1 == 0 for s in fig.layout.shapes)
    assert fig.layout.uirevision == "view"
    btc = funding[funding["symbol"] == "BTC/USDT:USDT"]
    trace = next(t for t in fig.data if t.meta["symbol"] == "BTC/USDT:USDT")
    last = _last(trace.y)
    assert last == pytest.approx(btc["funding_rate"].iloc[-1] * 100)
    annual = funding_figure(funding, "annual", timedelta(minutes=15), "view")
    row = btc.iloc[-1]
    annual_last = _last(next(t for t in annual.data if t.meta["symbol"] == "BTC/USDT:USDT").y)
    assert annual_last == pytest.approx(fmt.annualise(row["funding_rate"], row["funding_interval_hours"]) * 100)


def test_price_figure_candles_for_one_series_percent_change_for_several(candles):
    one = price_figure(candles, timedelta(minutes=1), "v")
    assert one.data[0].type == "candlestick" and one.layout.yaxis.title.text == "Price (USDT)"
    other = candles.assign(symbol="ETH/USDT:USDT")
    two = price_figure(pd.concat([candles, other]), timedelta(minutes=1), "v")
    assert [t.type for t in two.data] == ["scatter", "scatter"]
    assert two.layout.yaxis.title.text == "Change since range start (%)"
    expected = (candles["close"].iloc[-1] / candles["close"].iloc[0] - 1) * 100
    assert two.data[0].y[-1] == pytest.approx(expected)
    assert two.data[0].y[0] == 0 == two.data[1].y[0]  # "change since range start" starts at 0


def test_strongest_keeps_the_largest_abs_z_in_time_order():
    times = pd.date_range("2025-06-01", periods=5, freq="h", tz="UTC")
    marks = pd.DataFrame({"time": times, "z_score": [1.0, -9.0, 3.0, 8.0, -2.0]})
    top = strongest(marks, limit=2)
    assert list(top["z_score"]) == [-9.0, 8.0]


def test_settled_and_predicted_funding_are_drawn_differently(funding):
    """Predicted snapshots (here *derived*: the recorded settled BTC rates relabelled as predictions taken at the
    same times) are dotted lines as they are; settled rates are solid steps."""
    btc = funding[funding["symbol"] == "BTC/USDT:USDT"]
    both = pd.concat([btc, btc.assign(settled=False)], ignore_index=True)
    fig = funding_figure(both, "interval", timedelta(hours=1), "v")
    styles = {t.meta["settled"]: (t.line.dash, t.mode) for t in fig.data}
    assert styles == {True: ("solid", "lines"), False: ("dot", "lines")}
    assert {t.meta["settled"]: t.line.shape for t in fig.data} == {True: "hv", False: None}
    assert len({t.line.color for t in fig.data}) == 1  # same series colour, told apart by dash
