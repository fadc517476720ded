"""Each rule kind evaluated in bulk (``alerts.conditions.evaluate``) against rows written through ``db.writes``;
expected values are computed here from the rows written, scopes by exchange, symbol and bare coin."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from alerts.conditions import annualised_pct, evaluate
from alerts.evaluator import Evaluator
from db.alerts import create_rule, delete_rule, validate_rule
from db.engine import make_engine
from db.writes.anomalies import write_anomalies
from db.writes.candles import write_candles
from db.writes.common import ANOMALY_COLUMNS, CANDLE_COLUMNS
from settings import get_settings
from tests.alert_helpers import funding_row, write_funding_rows
from tests.conftest import role_url

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
FUNDING = [  # exchange, symbol, rate per interval, interval hours, mark, index
    ("binanceusdm", "BTC/USDT:USDT", 0.0003, 8.0, 100.2, 100.0),
    ("okx", "BTC/USDT:USDT", 0.0001, 4.0, 99.9, 100.0),
    ("hyperliquid", "BTC/USDC:USDC", -0.00002, 1.0, 100.0, 100.0),
    ("binanceusdm", "ETH/USDT:USDT", 0.0001, 8.0, 50.0, 50.0),
]


@pytest.fixture
def alerts_conn(clean_db, ingest_engine, db_url):
    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules, alert_states, alert_deliveries, alert_events"))
    write_funding_rows(ingest_engine, [funding_row(NOW - timedelta(minutes=2), e, s, r, h, m, i)
                                       for e, s, r, h, m, i in FUNDING])
    eng = make_engine(role_url(db_url, "alerts"), pool_size=1)
    with eng.connect() as conn:
        yield conn
    eng.dispose()


def rule(clean_db, kind: str, params: dict, **scope):
    with clean_db.begin() as conn:
        return create_rule(conn, validate_rule({"name": kind, "kind": kind, "params": params, **scope}))


def test_funding_levels_spread_and_premium(clean_db, alerts_conn):
    annual = {(e, s): annualised_pct(r, h) for e, s, r, h, _, _ in FUNDING}
    above = rule(clean_db, "funding_above", {"level_pct_per_year": 20.0}, symbols=["BTC"])
    below = rule(clean_db, "funding_below", {"level_pct_per_year": 0.0}, exchanges=["hyperliquid"])
    spread = rule(clean_db, "funding_spread", {"level_pct_per_year": 10.0})
    premium = rule(clean_db, "premium", {"level_bp": 15.0}, symbols=["BTC/USDT"])
    out = evaluate(alerts_conn, [above, below, spread, premium], NOW, NOW - timedelta(minutes=1))

    btc = {k: v for k, v in annual.items() if k[1].startswith("BTC/")}
    assert {s: (r.value, r.holds) for s, r in out[above.id].items()} == \
        {f"{e}|{s}": (pytest.approx(v), v >= 20.0) for (e, s), v in btc.items()}
    assert {s: r.holds for s, r in out[below.id].items()} == {"hyperliquid|BTC/USDC:USDC": True}
    width = max(btc.values()) - min(btc.values())
    assert set(out[spread.id]) == {"coin|BTC"}  # ETH trades on one venue only: no spread
    assert out[spread.id]["coin|BTC"].value == pytest.approx(width) and out[spread.id]["coin|BTC"].holds
    bp = {f"{e}|{s}": (m / i - 1) * 1e4 for e, s, _, _, m, i in FUNDING if s == "BTC/USDT:USDT"}
    assert {s: (r.value, r.holds) for s, r in out[premium.id].items()} == \
        {s: (pytest.approx(v), abs(v) >= 15.0) for s, v in bp.items()}


def test_price_change_and_anomalies(clean_db, ingest_engine, alerts_conn):
    closes = [100.0 + (3.0 if m == 30 else 0.0) + 0.01 * m for m in range(31)]  # a jump in the last minute
    times = [NOW - timedelta(minutes=31 - m) for m in range(31)]
    candles = pd.DataFrame({"time": times, "exchange": "okx", "symbol": "SOL/USDT:USDT", "timeframe": "1m",
                            "price_kind": "last", "open": closes, "high": closes, "low": closes, "close": closes,
                            "volume": 1.0, "quote_volume": closes}, columns=list(CANDLE_COLUMNS))
    write_candles(ingest_engine, candles)
    z = 9.5
    write_anomalies(ingest_engine, pd.DataFrame([{
        "time": NOW - timedelta(seconds=30), "exchange": "okx", "symbol": "SOL/USDT:USDT", "metric": "log_return_1m",
        "method": "ewma", "value": 0.03, "centre": 0.0, "spread": 0.03 / z, "z_score": z, "threshold": 8.0,
        "window": 240, "metadata": "{}"}], columns=list(ANOMALY_COLUMNS)))
    change = rule(clean_db, "price_change", {"window_minutes": 5, "pct": 2.0}, symbols=["SOL"])
    calm = rule(clean_db, "price_change", {"window_minutes": 5, "pct": 5.0})
    spike = rule(clean_db, "anomaly_z", {"metric": "log_return_1m", "min_abs_z": 9.0})
    other = rule(clean_db, "anomaly_z", {"metric": "premium", "min_abs_z": 1.0})
    out = evaluate(alerts_conn, [change, calm, spike, other], NOW, NOW - timedelta(minutes=1))
    expected = (closes[-1] / closes[-6] - 1) * 100
    assert out[change.id]["okx|SOL/USDT:USDT"].value == pytest.approx(expected)
    assert out[change.id]["okx|SOL/USDT:USDT"].holds and not out[calm.id]["okx|SOL/USDT:USDT"].holds
    assert set(out[spike.id]) == {"okx|SOL/USDT:USDT"} and out[spike.id]["okx|SOL/USDT:USDT"].holds
    assert out[spike.id]["okx|SOL/USDT:USDT"].value == z and out[other.id] == {}
    later = evaluate(alerts_conn, [spike], NOW + timedelta(minutes=5), NOW + timedelta(minutes=1))
    assert later[spike.id] == {}  # the anomaly was observed before anomaly_since


def test_feed_stale_and_deleted_rules_lose_their_states(clean_db, alerts_conn, db_url):
    stale = rule(clean_db, "feed_stale", {"multiple": 3.0}, exchanges=["binanceusdm"])
    settings = get_settings()
    later = NOW + timedelta(seconds=settings.funding_poll_seconds * 10)
    out = evaluate(alerts_conn, [stale], later, later)
    funding = out[stale.id]["feed|binanceusdm|funding"]
    assert funding.value == pytest.approx((later - (NOW - timedelta(minutes=2))).total_seconds())
    assert funding.holds == (funding.value > funding.threshold)
    eng = make_engine(role_url(db_url, "alerts"), pool_size=1)
    try:
        Evaluator(eng, replace(settings, alert_channels="")).run_cycle(later)
        with clean_db.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM alert_states")).scalar() > 0
            delete_rule(conn, stale.id)
        Evaluator(eng, replace(settings, alert_channels="")).run_cycle(later + timedelta(minutes=1))
        with clean_db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alert_states")).scalar() == 0
    finally:
        eng.dispose()
