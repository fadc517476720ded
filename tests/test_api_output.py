"""Issue 11, item 8: what the API writes reads as the source wrote it — no binary float noise, CSV booleans as
``true``/``false``, range errors in human durations, ``bucket`` refused where it does not apply, 8-hour buckets.

Bucket means are computed by the database from the bundled real funding history; the expected values are the same
means computed here with SQL, rounded to 15 significant digits in Python's own decimal formatting.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd
import pytest
from sqlalchemy import text

from app import create_app, with_database
from app.serialize import SIGNIFICANT_DIGITS, dumps, matrix, respond, tidy_floats
from settings import get_settings

START, END = "2025-06-01T00:00Z", "2025-06-20T00:00Z"


@pytest.fixture(scope="module")
def client(recorded_db_url):
    return create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False).test_client()


def test_tidy_floats_removes_binary_noise_only():
    noisy = np.array([0.1 + 0.2, 1.25e-05 * 3 / 3 + 1e-21, 139216.00699999998, -2.5e-9, 0.0, np.nan, np.inf])
    tidy = tidy_floats(noisy)
    assert [repr(float(v)) for v in tidy[:5]] == ["0.3", "1.25e-05", "139216.007", "-2.5e-09", "0.0"]
    assert np.isnan(tidy[5]) and np.isinf(tidy[6])
    exact = np.array([0.0001, 0.00012345, 105181.7, 1.5e-7])  # values as exchanges publish them stay as they are
    assert (tidy_floats(exact) == exact).all()


def test_8h_buckets_start_at_settlements_and_equal_sql(client, recorded_engine):
    response = client.get(f"/api/funding-rates?exchange=binanceusdm&symbols=BTC,ETH&start={START}&end={END}"
                          "&bucket=8h")  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["meta"]["bucket"] == "8h"
    rows = pd.DataFrame(body["data"])
    times = pd.to_datetime(rows["time"], utc=True)
    assert len(rows) > 50 and set(times.dt.hour) <= {0, 8, 16} and (times.dt.minute == 0).all()
    with recorded_engine.connect() as conn:
        want = pd.DataFrame(conn.execute(text(
            "SELECT time_bucket('8 hours', time) AS time, symbol, avg(funding_rate) AS rate FROM funding_rates "
            "WHERE exchange = 'binanceusdm' AND symbol IN ('BTC/USDT:USDT', 'ETH/USDT:USDT') AND settled "
            "AND time >= :a AND time < :b GROUP BY 1, 2"),
            {"a": datetime(2025, 6, 1, tzinfo=UTC), "b": datetime(2025, 6, 20, tzinfo=UTC)}).mappings().all())
    settled = rows[rows["settled"]]
    merged = settled.assign(time=pd.to_datetime(settled["time"], utc=True)).merge(
        want.assign(time=pd.to_datetime(want["time"], utc=True)), on=["time", "symbol"])
    assert len(merged) > 20
    for got, raw in zip(merged["funding_rate"], merged["rate"], strict=True):
        assert got == float(f"{float(raw):.{SIGNIFICANT_DIGITS}g}")


def test_csv_writes_booleans_in_lower_case_and_tidy_floats():
    frame = pd.DataFrame({"settled": [True, False], "funding_rate": [0.1 + 0.2, 1.25e-05]})
    with create_app(get_settings(), with_dashboard=False).test_request_context():
        body = respond(frame, "csv", {}, "x").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(body))) == [["settled", "funding_rate"], ["true", "0.3"], ["false", "1.25e-05"]]


def test_matrix_writes_each_label_once_and_empty_cells_as_null_zero_false():
    times = pd.to_datetime(["2026-03-01T08:00Z", "2026-03-01T00:00Z", "2026-03-01T16:00Z"], utc=True)
    frame = pd.DataFrame({"coin": ["ETH", "BTC", "BTC"], "time": times, "annualised": [0.1095 * 3, 0.1 + 0.2, -2.5e-9],
                          "venues": [2, 1, 3], "weighted": [True, False, True], "weight": [5.0, 7.5, 7.5]})
    body = orjson.loads(dumps(matrix(frame, ["coin"], ["annualised", "venues", "weighted"], ("weight",))))
    assert body == {
        "rows": {"coin": ["BTC", "ETH"], "weight": [7.5, 5.0]},
        "times": ["2026-03-01T00:00:00Z", "2026-03-01T08:00:00Z", "2026-03-01T16:00:00Z"],
        "cells": {"annualised": [[0.3, None, -2.5e-09], [None, 0.3285, None]], "venues": [[1, 0, 3], [0, 2, 0]],
                  "weighted": [[False, False, True], [False, True, False]]},
    }  # fmt: skip
    empty = orjson.loads(dumps(matrix(frame.iloc[:0], ["coin"], ["annualised", "venues"])))
    assert empty == {"rows": {"coin": []}, "times": [], "cells": {"annualised": [], "venues": []}}


def test_range_errors_name_the_range_in_days_and_hours(client):
    response = client.get("/api/prices?start=2024-01-01T00:00Z&end=2025-06-30T12:13Z")
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == "start" and "546 d 12 h" in body["error"] and "days," not in body["error"]


def test_bucket_is_refused_on_anomalies(client):
    response = client.get(f"/api/anomalies?start={START}&end={END}&bucket=1h")
    assert response.status_code == 400 and response.get_json()["parameter"] == "bucket"
