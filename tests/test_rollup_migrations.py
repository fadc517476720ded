"""Migrations that fill the rollups from stored rows (0002: hourly funding, 0005: 15-minute funding, 0004: 15-minute
candles) and whose downgrades drop or delete them; expected values from independent SQL over the raw rows
(``tests/rollup_helpers.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from alembic import command
from sqlalchemy import text

from db.engine import make_engine
from ingest.recorded import read_funding, read_klines_1m
from tests.conftest import alembic_config
from tests.rollup_helpers import ROLLUP_TABLES, assert_rollups_match_raw, insert_plain, predicted_snapshots


def _recorded_funding_rows() -> pd.DataFrame:
    """Settled hourly Hyperliquid rates and 3 hours of per-minute SOL snapshots (derived, see above)."""
    funding = read_funding()
    return pd.concat(
        [funding[funding["exchange"] == "hyperliquid"].head(500), predicted_snapshots("SOL/USDT:USDT", hours=3)],
        ignore_index=True,
    )


def test_migration_0002_fills_rollups_from_stored_rows_and_downgrade_drops_them(scratch_url):
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0001")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        insert_plain(eng, _recorded_funding_rows())  # revision 0001's table, no rollup yet
        command.upgrade(cfg, "head")
        assert min(assert_rollups_match_raw(eng).values()) > 0
        command.downgrade(cfg, "0001")
        with eng.connect() as conn:
            for table in ROLLUP_TABLES:
                assert conn.execute(text(f"SELECT to_regclass('{table}')")).scalar() is None
    finally:
        eng.dispose()


def test_migration_0005_fills_15m_funding_rollups_from_stored_rows_and_downgrade_drops_them(scratch_url):
    """Funding rows stored before revision 0005 get their 15-minute rollups on upgrade; downgrade drops the table
    and keeps the raw rows and the hourly rollups."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0004")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        rows = _recorded_funding_rows()
        insert_plain(eng, rows)  # plain inserts: no rollup of either width maintained
        command.upgrade(cfg, "head")
        assert assert_rollups_match_raw(eng, ("funding_rates_15m",))["funding_rates_15m"] > 0
        command.downgrade(cfg, "0004")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('funding_rates_15m')")).scalar() is None
            assert conn.execute(text("SELECT count(*) FROM funding_rates")).scalar() == len(rows)
            assert conn.execute(text("SELECT to_regclass('funding_rates_1h')")).scalar() is not None
    finally:
        eng.dispose()


def test_migration_0004_fills_15m_candle_rollups_from_stored_rows_and_downgrade_deletes_them(scratch_url):
    """1-minute candles stored before revision 0004 (plain inserts, recorded data) get their 15-minute rollups
    on upgrade, equal to the candles resampled in pandas; downgrade deletes them and keeps the 1-minute rows."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0003")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        klines = read_klines_1m()
        rows = pd.concat([klines[klines["symbol"] == s].iloc[7:250] for s in ("ETH/USDT:USDT", "SOL/USDT:USDT")],
                         ignore_index=True)  # fmt: skip
        columns = ["time", "exchange", "symbol", "timeframe", "price_kind", "open", "high", "low", "close", "volume"]
        with eng.begin() as conn:
            conn.execute(
                text(f"INSERT INTO prices ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
                rows[columns].to_dict(orient="records"),
            )
        command.upgrade(cfg, "head")
        with eng.connect() as conn:
            got = pd.DataFrame(
                conn.execute(
                    text(
                        "SELECT symbol, time, open, high, low, close, volume FROM prices WHERE timeframe = '15m' "
                        "ORDER BY symbol, time"
                    )
                )
                .mappings()
                .all()
            )
        want = (
            rows.set_index("time")
            .groupby("symbol")
            .resample("15min")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
            .reset_index()
        )
        assert len(got) == len(want) > 2
        pd.testing.assert_frame_equal(got[["symbol", "time"]], want[["symbol", "time"]])
        for col in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
        np.testing.assert_allclose(got["volume"].to_numpy(), want["volume"].to_numpy(), rtol=1e-12)
        command.downgrade(cfg, "0003")
        with eng.connect() as conn:
            counts = dict(conn.execute(text("SELECT timeframe, count(*) FROM prices GROUP BY 1")).all())
        assert counts == {"1m": len(rows)}
    finally:
        eng.dispose()
