"""Bad input to the JSON API: a JSON 400/404 naming the parameter, never a 500 or a stack trace; and the
accepted spellings of symbols and times (the same normalisation as ingest: ``db.symbols``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import create_app, with_database
from app.params import ParamError, parse_time
from db.symbols import normalize_symbol
from settings import get_settings

RANGE = "start=2025-06-20T00:00:00Z&end=2025-06-21T00:00:00Z"


@pytest.fixture(scope="module")
def client(recorded_db_url):
    return create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False).test_client()


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/api/prices?symbols=BTC&start=yesterday", 400, "start"),
        ("/api/prices?symbols=BTC&end=2025-13-01", 400, "end"),
        ("/api/prices?symbols=BTC&start=2025-06-21&end=2025-06-20", 400, "start"),
        ("/api/prices?symbols=BTC&start=2025-06-21&end=2025-06-21", 400, "start"),
        ("/api/prices?symbols=BTC&start=2020-01-01&end=2025-06-21", 400, "start"),
        ("/api/prices?symbols=BTC&end=0001-01-01", 400, "end"),
        ("/api/funding-rates?start=9999-12-31T23:00&end=9999-12-31T23:59:59", 400, "end"),
        ("/api/anomalies?start=1969-12-31&end=1970-01-02", 400, "start"),
        (f"/api/prices?symbols=BTC&symbols=ETH&{RANGE}", 400, "symbols"),
        (f"/api/prices?symbols=BTC&{RANGE}&bucket=2m", 400, "bucket"),
        ("/api/prices?symbols=BTC&start=2025-05-01&end=2025-06-21&bucket=1m", 400, "bucket"),
        (f"/api/prices?symbols=BTC&{RANGE}&format=xml", 400, "format"),
        (f"/api/prices?symbols=B@D&{RANGE}", 400, "symbols"),
        (f"/api/prices?symbols=BTC/USDT/X&{RANGE}", 400, "symbols"),
        (f"/api/prices?symbols=NOPE&{RANGE}", 404, "symbols"),
        (f"/api/funding-rates?exchange=okx&symbols=XRP&{RANGE}", 404, "symbols"),
        (f"/api/funding-rates?exchange=kraken&{RANGE}", 404, "exchange"),
        (f"/api/funding-rates?exchange=bin;ance&{RANGE}", 400, "exchange"),
        (f"/api/prices?symbol=BTC&{RANGE}", 400, "symbol"),
        (f"/api/anomalies?{RANGE}&metric=price", 400, "metric"),
        (f"/api/anomalies?{RANGE}&min_abs_z=-1", 400, "min_abs_z"),
        (f"/api/anomalies?{RANGE}&min_abs_z=inf", 400, "min_abs_z"),
        (f"/api/anomalies?{RANGE}&min_abs_z=big", 400, "min_abs_z"),
        (f"/api/anomalies?{RANGE}&limit=0", 400, "limit"),
        (f"/api/anomalies?{RANGE}&limit=100000", 400, "limit"),
        (f"/api/anomalies?{RANGE}&limit=1.5", 400, "limit"),
        ("/api/symbols?format=pdf", 400, "format"),
        ("/api/symbols?exchange=bybit", 400, "exchange"),
        ("/api/health?verbose=1", 400, "verbose"),
        ("/metrics?x=1", 400, "x"),
    ],
)
def test_bad_parameters_are_json_errors_naming_the_parameter(client, url, status, parameter):
    response = client.get(url)
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert body["parameter"] == parameter and body["status"] == status and body["error"]
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["prices", "funding-rates", "anomalies"])
@pytest.mark.parametrize("parameter", ["start", "end"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00%2B01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"])
def test_times_beyond_datetime_after_their_offset_are_400_not_500(client, endpoint, parameter, value):
    """Converting these to UTC overflows ``datetime``; the range check must come first (issue 12, item 1)."""
    response = client.get(f"/api/{endpoint}?{parameter}={value}")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["parameter"] == parameter


@pytest.mark.parametrize(("url", "status"), [("/api/nothing-here", 404), ("/api/prices?symbols=BTC", 200)])
def test_unknown_routes_and_methods_are_json(client, url, status):
    assert client.get(url).status_code == status
    response = client.post("/api/prices")
    assert response.status_code == 405 and response.get_json()["status"] == 405
    missing = client.get("/api/nothing-here")
    assert missing.mimetype == "application/json" and missing.get_json()["status"] == 404


@pytest.mark.parametrize("spelling", ["BTC/USDT", "BTCUSDT", "btc", "BTC/USDT:USDT", " btc-usdt-swap "])
def test_symbol_spellings_read_the_same_series(client, spelling):
    response = client.get(f"/api/funding-rates?symbols={spelling}&exchange=binanceusdm&{RANGE}")
    assert response.status_code == 200
    assert response.get_json()["meta"]["symbols"] == [normalize_symbol("BTC")] == ["BTC/USDT:USDT"]
    reference = client.get(f"/api/funding-rates?symbols=BTC/USDT:USDT&exchange=binanceusdm&{RANGE}")
    assert response.get_json()["data"] == reference.get_json()["data"] != []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        ("2025-06-01T08:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T08:00:00Z", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T10:00:00+02:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T08:00:00.250z", datetime(2025, 6, 1, 8, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_times_are_read_as_utc(raw, expected):
    value = parse_time("start", raw)
    assert value == expected and value.utcoffset() == timedelta(0)


def test_parse_time_error_names_the_parameter():
    with pytest.raises(ParamError) as info:
        parse_time("end", "06/01/2025")
    assert info.value.parameter == "end" and info.value.status == 400
