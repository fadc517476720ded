"""Issue 11, items 4 and 6: prices in the market's own quote currency (HYPE/USDC on Hyperliquid is not "USDT"),
and a next-funding time already past at the view's end shown as overdue, not as a next funding time.

Snapshots come from ``db.queries.latest_snapshot`` on the bundled real history (real TimescaleDB); the expected
quote and due time are derived from those rows, not typed in.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from app.components import cards_note, comparison_rows, symbol_card
from app.figures import price_figure
from app.pair_facts import PairFacts
from db import queries
from db.symbols import quote_currency
from ingest.recorded import read_klines_1m

HL = ("hyperliquid", "HYPE/USDC:USDC")


def _text(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())


@pytest.fixture(scope="module")
def stale_snapshot(recorded_engine) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Snapshot of Hyperliquid HYPE and Binance BTC at a view end 3 hours after Hyperliquid's last settlement in
    the bundled year (hourly funding: its derived next funding time is 2 hours past)."""
    with recorded_engine.connect() as conn:
        extent = queries.data_extent(conn, [HL[0]], [HL[1]])
        end = pd.Timestamp(extent[1]).to_pydatetime() + timedelta(hours=3)
        snap = queries.latest_snapshot(conn, [HL[0], "binanceusdm"], [HL[1], "BTC/USDT:USDT"], end)
    return snap[snap["funding_rate"].notna()].reset_index(drop=True), end


def test_quote_currency_of_unified_symbols():
    assert [quote_currency(s) for s in ("BTC/USDT:USDT", "HYPE/USDC:USDC", "ETH/USD:ETH")] == ["USDT", "USDC", "USD"]
    with pytest.raises(ValueError):
        quote_currency("BTCUSDT")


def test_cards_and_table_use_the_quote_currency_and_say_overdue(stale_snapshot):
    snap, end = stale_snapshot
    hl = snap[snap["exchange"] == HL[0]].iloc[0]
    assert hl["next_funding_time"] <= pd.Timestamp(end)  # the premise: settlement missing from the data
    empty = pd.DataFrame(columns=["exchange", "symbol", "metric", "anomalies", "max_abs_z", "max_z_time"])
    facts = PairFacts(pd.DataFrame(columns=["exchange", "symbol", "time", "settled", "funding_rate"]), empty)
    card = _text(symbol_card(hl, facts, "annual", end, live=False))
    assert " USDC" in card and " USDT" not in card
    assert "next funding overdue" in card and "next funding 20" not in card
    rows = {r["exchange"]: r for r in comparison_rows(snap, facts, end)}
    assert rows[HL[0]]["quote"] == "USDC" and rows[HL[0]]["next_funding"].startswith("overdue")
    assert rows["binanceusdm"]["quote"] == "USDT"


def test_candle_axis_is_titled_in_the_quote_currency():
    klines = read_klines_1m()
    btc = klines[klines["symbol"] == "BTC/USDT:USDT"].head(120)
    as_usdc = btc.assign(exchange=HL[0], symbol="BTC/USDC:USDC")  # the same candles under a USDC market's name
    assert price_figure(btc, timedelta(minutes=1), "v")["layout"]["yaxis"]["title"]["text"] == "Price (USDT)"
    assert price_figure(as_usdc, timedelta(minutes=1), "v")["layout"]["yaxis"]["title"]["text"] == "Price (USDC)"


def test_the_overview_says_how_many_pairs_have_a_card():
    """Issue 11, item 3: more pairs than cards -> "12 of 15 pairs shown as cards"; all shown -> no note."""
    assert "12 of 15 pairs shown as cards" in _text(cards_note(12, 15, "n"))
    assert "table below lists all 15" in _text(cards_note(12, 15, "n")) and cards_note(4, 4, "n") is None
