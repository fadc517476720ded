"""Read side of the database: SELECTs that return pandas DataFrames with documented columns and units.

One module per subject (``common``: bucket widths and range checks; ``pairs``: which exchange + symbol pairs
have data; ``funding``, ``prices``, ``anomalies``: chart series; ``snapshot``: newest values per pair;
``metrics``: system metrics; ``feeds``: feed health; ``fingerprint``: change detection; market-wide funding
(issue 8): ``markets``: newest rate per coin and venue, cross-venue spreads and their history; ``accumulated``:
funding summed over a window; ``heatmap``: coins × buckets of annualised funding; ``premium``: basis series).
This package re-exports their public names, so callers write ``from db import queries; queries.funding_series(...)``.

Used by the Flask API and the Dash pages; nothing here writes. Conventions of every function:

* ``conn`` is an open SQLAlchemy ``Connection`` (the caller owns the transaction); the market reads take
  ``engine``: an ``Engine`` (connected for the call) or an open ``Connection`` (``common.connected``);
* times passed in must be timezone-aware (``ValueError`` otherwise); time columns come back as
  ``datetime64[…, UTC]``; ``start`` is inclusive, ``end`` exclusive;
* ``exchanges`` are ccxt ids, ``symbols`` canonical ccxt unified symbols (``BTC/USDT:USDT``, see
  :mod:`db.symbols`); ``None`` means every one that has data;
* chart series are bucketed **in the database** with TimescaleDB's ``time_bucket`` (bucket start = the
  row's ``time``); the bucket width comes from :data:`BUCKET_WIDTHS` so one trace holds at most ~1,500
  points (:func:`choose_bucket`); empty buckets produce no row (a gap, never an invented value);
* funding rates are fractions per funding interval, prices are in the quote currency (USDT).
"""


from db.queries.accumulated import accumulated_funding
from db.queries.anomalies import ANOMALY_METRICS, anomaly_counts, anomaly_rows, newest_anomaly_time
from db.queries.common import (
    BUCKET_ORIGIN,
    BUCKET_WIDTHS,
    CANDLE_TIMEFRAMES,
    MAX_POINTS,
    STREAMS,
    align_range,
    bucket_name,
    choose_bucket,
)
from db.queries.feeds import EPOCH, HEALTH_LOOKBACK, FeedHealth, feed_health, newest_times, stream_cadences
from db.queries.fingerprint import window_fingerprint
from db.queries.funding import funding_series
from db.queries.heatmap import funding_heatmap, heatmap_venue_values
from db.queries.markets import HOURS_PER_YEAR, annualise, funding_snapshot, funding_spreads, spread_history
from db.queries.metrics import latest_metrics, metric_series, metric_series_many
from db.queries.open_interest import open_interest_series
from db.queries.pairs import data_extent, funding_pairs, known_pairs, list_symbols, newest_common_time
from db.queries.premium import premium_series
from db.queries.prices import price_series
from db.queries.snapshot import SNAPSHOT_COLUMNS, SNAPSHOT_LOOKBACK, latest_snapshot

__all__ = [
    "ANOMALY_METRICS", "HOURS_PER_YEAR", "accumulated_funding", "annualise", "funding_heatmap", "funding_pairs",
    "funding_snapshot", "funding_spreads", "heatmap_venue_values", "premium_series", "spread_history",
    "BUCKET_ORIGIN", "BUCKET_WIDTHS", "CANDLE_TIMEFRAMES", "EPOCH", "HEALTH_LOOKBACK", "MAX_POINTS", "SNAPSHOT_COLUMNS",
    "SNAPSHOT_LOOKBACK", "STREAMS", "FeedHealth", "align_range", "anomaly_counts", "anomaly_rows", "bucket_name",
    "choose_bucket", "data_extent", "feed_health", "funding_series", "known_pairs", "latest_metrics",
    "latest_snapshot", "list_symbols", "metric_series", "metric_series_many", "newest_anomaly_time",
    "newest_common_time", "newest_times",
    "open_interest_series", "price_series", "stream_cadences", "window_fingerprint",
]  # fmt: skip
