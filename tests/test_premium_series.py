"""``db.queries.premium_series`` (premium = (mark − index) / index in basis points): buckets of 15 minutes and more
from the funding rollups' ``premium`` / ``premium_rows`` (revision ``pr10_01``), the open hour and finer buckets from
raw rows. Expected values come from pandas over the raw ``funding_rates`` rows as written; the per-minute predicted
snapshots are **derived** from recorded candles and settled rates (``tests.rollup_helpers.predicted_snapshots``)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db import queries
from db.writes import write_funding
from ingest.recorded import read_funding
from tests.rollup_helpers import EXCHANGE, ROLLED, assert_rollups_match_raw, predicted_snapshots

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def _raw_premium(conn, lo, hi, width: timedelta) -> pd.DataFrame:
    """Mean premium (bp) and rows per exchange + symbol + bucket of ``width``, in pandas over the stored rows."""
    raw = pd.DataFrame(conn.execute(text(
        "SELECT time, exchange, symbol, mark_price, index_price FROM funding_rates WHERE time >= :lo AND time < :hi "
        "AND mark_price IS NOT NULL AND index_price IS NOT NULL"), {"lo": lo, "hi": hi}).mappings().all())  # fmt: skip
    raw["time"] = pd.to_datetime(raw["time"], utc=True).dt.floor(width)
    raw["premium_bp"] = (raw["mark_price"] / raw["index_price"] - 1) * 1e4
    out = raw.groupby(["exchange", "symbol", "time"], as_index=False).agg(
        premium_bp=("premium_bp", "mean"), rows=("premium_bp", "size"))
    return out.sort_values(["exchange", "symbol", "time"], ignore_index=True)


@pytest.mark.parametrize("width", [timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                                   timedelta(hours=4)])  # fmt: skip
def test_premium_series_equals_the_raw_rows_mean_and_comes_from_the_rollups(clean_db, width):
    """Written in two batches (the second closes the first's hours, its own newest hour stays open): every bucket
    equals pandas' mean over the raw rows; with the rolled-up raw rows deleted, buckets of 15 minutes and more read
    the same (so from the rollups, the open hour from its raw rows)."""
    snaps = pd.concat([predicted_snapshots(s, hours=8) for s in SYMBOLS], ignore_index=True).sort_values("time")
    settled = read_funding()
    settled = settled[(settled["exchange"] == EXCHANGE) & settled["symbol"].isin(SYMBOLS)
                      & settled["time"].between(snaps["time"].min(), snaps["time"].max())]  # fmt: skip
    cut = len(snaps) // 2
    write_funding(clean_db, pd.concat([settled, snaps.iloc[:cut]], ignore_index=True))
    write_funding(clean_db, snaps.iloc[cut:])
    assert_rollups_match_raw(clean_db)
    start = (snaps["time"].min() + pd.Timedelta(minutes=7)).to_pydatetime()
    end = (snaps["time"].max() - pd.Timedelta(minutes=3)).to_pydatetime()
    lo, hi = queries.align_range(start, end, width)
    with clean_db.connect() as conn:
        got = queries.premium_series(conn, [EXCHANGE], SYMBOLS, start, end, width)
        want = _raw_premium(conn, lo, hi, width)
        open_rows = conn.execute(text(f"SELECT count(*) FROM funding_rates WHERE NOT ({ROLLED})")).scalar()
    assert open_rows > 0 and len(got) == len(want) > 2 * len(SYMBOLS)
    assert list(got[["exchange", "symbol", "time"]].itertuples(index=False)) == \
        list(want[["exchange", "symbol", "time"]].itertuples(index=False))  # fmt: skip
    np.testing.assert_allclose(got["premium_bp"], want["premium_bp"], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got["rows"], want["rows"])
    if width < timedelta(minutes=15):
        return
    with clean_db.begin() as conn:
        conn.execute(text(f"DELETE FROM funding_rates WHERE {ROLLED}"))
    with clean_db.connect() as conn:
        pd.testing.assert_frame_equal(queries.premium_series(conn, [EXCHANGE], SYMBOLS, start, end, width), got)
