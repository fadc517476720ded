"""``db.queries.common.fetch_rows``: plain tuples in binary format, and numeric arrays as numpy arrays equal to the
driver's own lists (real TimescaleDB; the values are PostgreSQL's, compared with what psycopg decodes itself)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from db.queries.common import fetch_array_frame, fetch_frame, fetch_rows

_ARRAYS = """SELECT CAST(ARRAY[1, -2, 2147483647] AS int4[]) AS a, CAST(ARRAY[0, -9007199254740993] AS int8[]) AS b,
    CAST(ARRAY[1.5, -2.25, 'NaN', 1e308] AS float8[]) AS c, CAST(ARRAY[1, NULL] AS int8[]) AS d,
    CAST('{}' AS float8[]) AS e, CAST(ARRAY[[1, 2], [3, 4]] AS int4[]) AS f, CAST(NULL AS int8[]) AS g,
    CAST('[0:1]={5,6}' AS int4[]) AS h"""


def test_numpy_arrays_equal_the_drivers_lists(recorded_engine):
    with recorded_engine.connect() as conn:
        keys, [fast] = fetch_rows(conn, text(_ARRAYS), numpy_arrays=True)
        same_keys, [plain] = fetch_rows(conn, text(_ARRAYS))
    assert keys == same_keys == list("abcdefgh")
    for name, got, want in zip(keys, fast, plain, strict=True):
        if name in "abceh":  # one dimension, no NULL: numpy, native byte order
            assert isinstance(got, np.ndarray) and got.dtype.isnative and got.ndim == 1, name
            np.testing.assert_array_equal(got, np.array(want, dtype=got.dtype))
        else:  # NULL elements, two dimensions, a NULL array: as the driver gives them
            assert got == want, name
    assert fast[0].dtype == np.int32 and fast[1].dtype == np.int64 and fast[2].dtype == np.float64
    assert fast[1][1] == -9007199254740993 and np.isnan(fast[2][2])


def test_plain_rows_are_tuples(recorded_engine):
    with recorded_engine.connect() as conn:
        keys, rows = fetch_rows(conn, text("SELECT 1 AS x, CAST(ARRAY[1, 2] AS int8[]) AS y"))
    assert keys == ["x", "y"] and rows == [(1, [1, 2])]


_TIMES = """SELECT CAST(ARRAY['2026-03-07 08:00:00.000123+00', '1999-12-31 23:59:59+00', '2000-01-01 00:00:00+00']
    AS timestamptz[]) AS a, CAST('{}' AS timestamptz[]) AS b, CAST(ARRAY['2026-03-07 08:00+00', NULL] AS timestamptz[])
    AS c, CAST(ARRAY['infinity'] AS timestamptz[]) AS d"""


def test_timestamp_arrays_are_utc_datetime64_equal_to_the_drivers(recorded_engine):
    """``timestamptz[]``: ``datetime64[us]`` (naive, UTC) equal to the driver's aware datetimes, microseconds and times
    before PostgreSQL's 2000 epoch included; NULL elements as the driver gives them; infinity raises as it does."""
    with recorded_engine.connect() as conn:
        _, [(a, b, c)] = fetch_rows(conn, text(_TIMES.rsplit(",", 1)[0]), numpy_arrays=True)
        _, [(want_a, _, want_c)] = fetch_rows(conn, text(_TIMES.rsplit(",", 1)[0]))
        assert a.dtype == np.dtype("datetime64[us]") and b.dtype == a.dtype and len(b) == 0
        assert list(pd.to_datetime(a, utc=True)) == want_a and c == want_c
        with pytest.raises(DataError):
            fetch_rows(conn, text(_TIMES), numpy_arrays=True)


_FRAME = """SELECT * FROM (VALUES
    (CAST('2026-03-07 08:00:00.000123+00' AS timestamptz), 'binanceusdm', CAST(1.5 AS float8),
     CAST(NULL AS timestamptz)),
    (CAST('1999-12-31 23:59:59+02' AS timestamptz), 'bybit', NULL, CAST(NULL AS timestamptz))
) AS v (time, exchange, value, never)"""


@pytest.mark.parametrize("where", ["", " WHERE false"])
def test_frames_equal_pandas_own_construction_with_utc_times(recorded_engine, where):
    """``fetch_frame`` converts its time columns before building the frame (no dtype inference on the driver's
    datetimes first): the same frame as pandas builds from the driver's rows and converts afterwards, for times
    with microseconds, another zone, a column of NULLs and no rows at all."""
    stmt = text(f"SELECT * FROM ({_FRAME}) AS f{where}")
    with recorded_engine.connect() as conn:
        frame = fetch_frame(conn, stmt, ["time", "never"])
        keys, rows = fetch_rows(conn, stmt)
    want = pd.DataFrame(rows, columns=keys) if rows else pd.DataFrame({k: [] for k in keys}, columns=keys)
    for col in ("time", "never"):
        want[col] = pd.to_datetime(want[col], utc=True)
    pd.testing.assert_frame_equal(frame, want)
    assert str(frame["time"].dt.tz) == "UTC" and len(frame) == len(rows)


#: Three rows of one series given out of time order (one value NULL) and one of another.
_ROWS = """(VALUES ('b', true, timestamptz '2025-06-24 10:02+00', 2.5, 7::bigint),
        ('b', true, timestamptz '2025-06-24 10:00+00', NULL, 8::bigint),
        ('b', true, timestamptz '2025-06-24 10:01:00.000001+00', -1.0, 9::bigint),
        ('a', false, timestamptz '2025-06-24 09:00+00', 1.0, 1::bigint)) AS k(exchange, settled, t, v, n)"""
_SERIES = ("SELECT k.exchange, k.settled, array_agg(k.t) AS time, array_agg(k.v) AS value, array_agg(k.n) AS n "
           f"FROM {_ROWS} {{where}} GROUP BY 1, 2 ORDER BY 1")


def test_array_frame_equals_the_rows_in_time_order_per_series(recorded_engine):
    """One row per series of arrays (one given out of time order, one with a NULL element): the same frame as the
    rows themselves, each series sorted by time, through the row-tuple path (``fetch_frame``)."""
    with recorded_engine.connect() as conn:
        got = fetch_array_frame(conn, text(_SERIES.format(where="")), ["exchange", "settled"])
        want = fetch_frame(conn, text(f"SELECT exchange, settled, t AS time, v AS value, n FROM {_ROWS} "
                                      "ORDER BY exchange, t"), ["time"])  # fmt: skip
    want["value"] = want["value"].astype("float64")
    pd.testing.assert_frame_equal(got, want)
    assert got["time"].dtype == "datetime64[us, UTC]" and got["n"].dtype == np.int64
    assert np.isnan(got.loc[1, "value"]) and got["exchange"].tolist() == ["a", "b", "b", "b"]


def test_array_frame_of_no_series_is_empty_with_utc_times(recorded_engine):
    with recorded_engine.connect() as conn:
        got = fetch_array_frame(conn, text(_SERIES.format(where="WHERE false")), ["exchange", "settled"])
    assert got.empty and list(got.columns) == ["exchange", "settled", "time", "value", "n"]
    assert got["time"].dtype == "datetime64[us, UTC]"
