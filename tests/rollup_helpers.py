"""Helpers of the funding-rollup tests: the rollups recomputed with independent SQL over the raw rows
(``date_trunc`` and ``DISTINCT ON``, not ``time_bucket``/``last``), per-minute predicted snapshots **derived** from
recorded candles and settled rates (as the live worker's 60 s cadence would store them), and plain-SQL inserts that
bypass ``db.writes`` (rows stored before a rollup existed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import text

from db.schema import FUNDING_ROLLUPS
from ingest.recorded import read_funding, read_klines_1m

EXCHANGE = "binanceusdm"
KEY = ["exchange", "symbol", "settled", "time"]
VALUES = ["funding_rate", "funding_rate_last", "funding_interval_hours", "mark_price", "index_price", "rows", "premium",
          "premium_rows"]
#: Values that are means and their (relative, absolute) tolerance: the append path re-weights stored means by row
#: counts; the premium, a small difference of two prices, is written out another way by :data:`INDEPENDENT`.
MEANS = {"funding_rate": (1e-12, 0.0), "premium": (1e-12, 1e-15)}
ROLLUP_TABLES = tuple(t.name for t in FUNDING_ROLLUPS.values())

#: Start of each rollup's bucket as plain SQL over ``ts`` (the row's UTC wall time): the hour by ``date_trunc``, the
#: quarter hour by adding whole 15 minutes of the minute-of-hour to it.
BUCKET_START = {
    "funding_rates_1h": "date_trunc('hour', ts)",
    "funding_rates_15m": "date_trunc('hour', ts) + interval '15 minutes' * floor(extract(minute FROM ts) / 15)",
}

#: The rollup as plain SQL over raw rows: means and counts by GROUP BY bucket (the premium over the rows with both
#: prices, written out: not the app's ``PREMIUM_SQL``), the last row's values by DISTINCT ON ... ORDER BY time DESC.
INDEPENDENT = """
WITH h AS (SELECT ({bucket}) AT TIME ZONE 'UTC' AS bucket, *
           FROM (SELECT time AT TIME ZONE 'UTC' AS ts, * FROM funding_rates WHERE {rolled}) r),
agg AS (SELECT exchange, symbol, settled, bucket, avg(funding_rate) AS funding_rate, count(*) AS rows,
               avg(mark_price / index_price - 1) FILTER (WHERE mark_price IS NOT NULL AND index_price IS NOT NULL)
                 AS premium,
               count(*) FILTER (WHERE mark_price IS NOT NULL AND index_price IS NOT NULL) AS premium_rows
        FROM h GROUP BY 1, 2, 3, 4),
lst AS (SELECT DISTINCT ON (exchange, symbol, settled, bucket) exchange, symbol, settled, bucket,
               funding_rate AS funding_rate_last, funding_interval_hours, mark_price, index_price
        FROM h ORDER BY exchange, symbol, settled, bucket, time DESC)
SELECT agg.bucket AS time, agg.exchange, agg.symbol, agg.settled, agg.funding_rate, lst.funding_rate_last,
       lst.funding_interval_hours, lst.mark_price, lst.index_price, agg.rows, agg.premium, agg.premium_rows
FROM agg JOIN lst USING (exchange, symbol, settled, bucket)
"""
STORED = "SELECT time, exchange, symbol, settled, " + ", ".join(VALUES) + " FROM {table}"


def read_rollup_frame(conn, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for col in VALUES:
        frame[col] = frame[col].astype("float64")
    return frame.sort_values(KEY, ignore_index=True)


#: The raw rows the rollups hold: settled ones, and predicted ones before the rollup horizon (db.writes.rollups: the
#: hours from it on are rolled up when they close).
ROLLED = "settled OR time < COALESCE((SELECT predicted_until FROM funding_rollup_horizon), '-infinity')"


def assert_rollups_match_raw(engine, tables: tuple[str, ...] = ROLLUP_TABLES) -> dict[str, int]:
    """Each of ``tables`` holds exactly the rows :data:`INDEPENDENT` computes with its :data:`BUCKET_START` over
    the rows :data:`ROLLED`; returns their number per table."""
    counts = {}
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'UTC'"))
        for table in tables:
            want = read_rollup_frame(conn, INDEPENDENT.format(bucket=BUCKET_START[table], rolled=ROLLED))
            got = read_rollup_frame(conn, STORED.format(table=table))
            assert len(got) == len(want), table
            pd.testing.assert_frame_equal(got[KEY], want[KEY])
            for col, (rtol, atol) in MEANS.items():
                np.testing.assert_allclose(got[col], want[col], rtol=rtol, atol=atol, err_msg=f"{table}.{col}")
            for col in (c for c in VALUES if c not in MEANS):
                np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=f"{table}.{col}")
            counts[table] = len(got)
    return counts


def predicted_snapshots(symbol: str, hours: int) -> pd.DataFrame:
    """DERIVED per-minute predicted funding for ``symbol`` over the last ``hours`` of recorded candles: the rate
    is the symbol's next recorded settled rate, the mark price that minute's close, the index price its open (a
    stand-in: no per-minute index prices are recorded; premiums of a few basis points, as the venues' are)."""
    candles = read_klines_1m()
    candles = candles[candles["symbol"] == symbol].sort_values("time")
    candles = candles[candles["time"] > candles["time"].max() - pd.Timedelta(hours=hours)]
    settled = read_funding()
    settled = settled[(settled["exchange"] == EXCHANGE) & (settled["symbol"] == symbol)].sort_values("time")
    merged = pd.merge_asof(
        candles[["time", "open", "close"]],
        settled[["time", "funding_rate", "funding_interval_hours"]].rename(columns={"time": "next_funding_time"}),
        left_on="time",
        right_on="next_funding_time",
        direction="forward",
    ).dropna(subset=["funding_rate"])
    return pd.DataFrame({
        "time": merged["time"], "exchange": EXCHANGE, "symbol": symbol, "settled": False,
        "funding_rate": merged["funding_rate"], "funding_interval_hours": merged["funding_interval_hours"],
        "mark_price": merged["close"], "index_price": merged["open"], "next_funding_time": merged["next_funding_time"],
    }).reset_index(drop=True)  # fmt: skip


def insert_plain(eng, rows: pd.DataFrame) -> None:
    """Insert funding ``rows`` with plain SQL (no rollup maintenance), as rows stored before a rollup existed."""
    columns = ["time", "exchange", "symbol", "settled", "funding_rate", "funding_interval_hours", "mark_price",
               "index_price"]
    with eng.begin() as conn:
        conn.execute(text(f"INSERT INTO funding_rates ({', '.join(columns)}) VALUES "
                          f"({', '.join(':' + c for c in columns)})"),
                     [{k: (None if pd.isna(v) else v) for k, v in r.items()}
                      for r in rows[columns].to_dict(orient="records")])  # fmt: skip
