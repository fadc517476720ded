"""SQLAlchemy 2 Core schema of the AlphaPulse hypertables.

The schema is created only by alembic migrations (``migrations/versions``); this module is
the single description they and ``alembic check`` compare against.

Conventions (all tables):

* ``time`` is ``timestamptz`` (UTC) and the hypertable's partitioning column, 1-day chunks (7-day chunks for
  ``prices`` and the small funding rollup tables ``funding_rates_15m`` and ``funding_rates_1h``, 30-day chunks for
  ``anomalies``, see :data:`CHUNK_INTERVALS`);
  every primary key includes it (TimescaleDB requires unique keys to contain it).
* ``exchange`` is a ccxt exchange id (``binanceusdm``); ``symbol`` is ccxt's unified symbol
  (``BTC/USDT:USDT`` for a USDT-margined linear perpetual).
* Funding rates are plain fractions per funding interval (0.0001 = 0.01 % per interval), never
  percent and never annualised. Prices are in the quote currency (USDT).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Chunk interval of the hypertables written every minute for the whole funding universe (``funding_rates``,
#: ``open_interest``) and of ``system_metrics``.
CHUNK_INTERVAL = timedelta(days=1)

#: Chunk interval of ``prices`` (the followed symbols' candles, ~19 MB a day for 50 symbols) and ``anomalies`` (a few
#: hundred rows a day): a 30-day chart read plans and opens 5 (2) chunks per probe instead of 31 (revision
#: ``ci10_01``).
PRICES_CHUNK_INTERVAL = timedelta(days=7)
ANOMALIES_CHUNK_INTERVAL = timedelta(days=30)

#: Chunk interval of the funding rollups: ``funding_rates_1h`` holds at most 24 rows per series and day, so 7-day
#: chunks keep a 30-day read to 5-6 chunks (1-day chunks of ~100 kB would make planning and opening chunks the main
#: cost); ``funding_rates_15m`` (96 rows per series and day) is read for 7-day ranges: 2 chunks instead of 8.
ROLLUP_CHUNK_INTERVAL = timedelta(days=7)


def _time() -> Column:
    return Column("time", DateTime(timezone=True), nullable=False, comment="UTC timestamp (hypertable time column)")


def _received_at() -> Column:
    return Column(
        "received_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="UTC time AlphaPulse stored the row (exchange time is kept apart in time)",
    )


funding_rates = Table(
    "funding_rates",
    metadata,
    _time(),
    Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
    Column("symbol", Text, nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
    Column(
        "settled",
        Boolean,
        nullable=False,
        comment="true: the rate settled at time (fundingTime); false: the current/predicted rate observed at time",
    ),
    Column("funding_rate", Double, nullable=False, comment="fraction per funding interval (0.0001 = 0.01 %)"),
    Column("funding_interval_hours", Double, comment="hours between settlements for this symbol (8, 4, 1 …)"),
    Column("mark_price", Double, comment="mark price in quote currency at time"),
    Column("index_price", Double, comment="index (spot composite) price in quote currency at time"),
    Column("next_funding_time", DateTime(timezone=True), comment="UTC time of the next settlement (predicted rows)"),
    _received_at(),
    PrimaryKeyConstraint("exchange", "symbol", "settled", "time"),
    CheckConstraint("funding_interval_hours IS NULL OR funding_interval_hours > 0", name="interval_positive"),
    CheckConstraint("mark_price IS NULL OR mark_price > 0", name="mark_price_positive"),
    CheckConstraint("index_price IS NULL OR index_price > 0", name="index_price_positive"),
    comment="Funding rates per exchange + symbol: settled history and current/predicted snapshots",
)

prices = Table(
    "prices",
    metadata,
    _time(),
    Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
    Column("symbol", Text, nullable=False, comment="ccxt unified symbol"),
    Column("timeframe", Text, nullable=False, comment="candle width in ccxt notation: 1m, 5m, 1h, 4h, 1d"),
    Column(
        "price_kind",
        Text,
        nullable=False,
        server_default=text("'last'"),
        comment="last (traded), mark or index price candles",
    ),
    Column("open", Double, nullable=False, comment="open price, quote currency"),
    Column("high", Double, nullable=False, comment="high price, quote currency"),
    Column("low", Double, nullable=False, comment="low price, quote currency"),
    Column("close", Double, nullable=False, comment="close price, quote currency"),
    Column("volume", Double, comment="traded volume in base-asset units (contracts on some venues)"),
    Column("quote_volume", Double, comment="traded volume in quote currency"),
    _received_at(),
    PrimaryKeyConstraint("exchange", "symbol", "timeframe", "price_kind", "time"),
    CheckConstraint("high >= low", name="high_ge_low"),
    CheckConstraint("low > 0", name="low_positive"),
    CheckConstraint("price_kind IN ('last', 'mark', 'index')", name="price_kind_known"),
    comment="Closed OHLCV candles; time is the candle open time (UTC)",
)

#: Comments of ``anomalies.method`` and ``anomalies.metadata`` (migration h9_01 sets them).
METHOD_COMMENT = "method that judged the observation: robust (median/1.4826×MAD, floored) or ewma (volatility-scaled)"
METADATA_COMMENT = "method, z of each method {robust, ewma}, floor (metric's unit), interval_hours (funding)"
CENTRE_COMMENT = "trailing median, weighted mean or 0, metric's unit"
SPREAD_COMMENT = "trailing spread, at least the metric's floor, metric's unit"

anomalies = Table(
    "anomalies",
    metadata,
    _time(),
    Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
    Column("symbol", Text, nullable=False, comment="ccxt unified symbol"),
    Column(
        "metric",
        Text,
        nullable=False,
        comment=(
            "funding_rate (fraction), log_return_1m (natural log), log_volume_1m (ln of base units), "
            "premium (fraction)"
        ),
    ),
    Column("method", Text, nullable=False, comment=METHOD_COMMENT),
    Column("value", Double, nullable=False, comment="observed value of the metric, metric's unit"),
    Column("centre", Double, nullable=False, comment=CENTRE_COMMENT),
    Column("spread", Double, nullable=False, comment=SPREAD_COMMENT),
    Column("z_score", Double, nullable=False, comment="(value − centre) / spread, dimensionless"),
    Column("threshold", Double, nullable=False, comment="|z| threshold in force"),
    Column("window", Integer, nullable=False, comment="trailing window length, observations"),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"), comment=METADATA_COMMENT),
    _received_at(),
    PrimaryKeyConstraint("exchange", "symbol", "metric", "time"),
    CheckConstraint("spread > 0", name="spread_positive"),
    comment="Z-score anomalies found on trailing windows (no look-ahead)",
)

system_metrics = Table(
    "system_metrics",
    metadata,
    _time(),
    Column("metric", Text, nullable=False, comment="metric name, e.g. fetch_latency_seconds"),
    Column("value", Double, nullable=False, comment="metric value in unit"),
    Column("unit", Text, nullable=False, comment="seconds, rows, bytes, percent, count …"),
    Column("labels", JSONB, nullable=False, server_default=text("'{}'::jsonb"), comment="exchange, stream, worker …"),
    PrimaryKeyConstraint("metric", "labels", "time"),
    comment="Health of the data pipeline, written by ingest",
)

#: Values the funding rollups' series index includes (revision ``pr10_02``): the chart reads (``funding_series``,
#: ``premium_series``) and the refresh fingerprint (``window_fingerprint``: rows and ``updated_at``) scan a pair's
#: rows index-only instead of visiting a heap page per row (a pair's rows of a chunk lie on as many pages as rows:
#: every pair's hour is written at once).
ROLLUP_SERIES_COVERING = ("funding_rate", "funding_interval_hours", "rows", "premium", "premium_rows", "updated_at")


def _funding_rollup(name: str, period: str, adjective: str) -> Table:
    """A funding rollup hypertable ``name``: one row per exchange + symbol + settled flag + UTC ``period`` (e.g.
    ``hour``) of ``funding_rates``; ``adjective`` (``Hourly``) starts the table comment. Both rollups share these
    columns, so ``db.writes`` and ``db.queries`` treat them alike."""
    return Table(
        name,
        metadata,
        Column("time", DateTime(timezone=True), nullable=False,
               comment=f"UTC start of the {period} (hypertable time column)"),
        Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
        Column("symbol", Text, nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
        Column("settled", Boolean, nullable=False,
               comment="as funding_rates.settled: settled rates or predicted snapshots"),
        Column("funding_rate", Double, nullable=False,
               comment=f"mean funding rate of the {period}'s rows, fraction per funding interval"),
        Column("funding_rate_last", Double, nullable=False,
               comment=f"funding rate of the {period}'s last row, fraction per funding interval"),
        Column("funding_interval_hours", Double,
               comment=f"funding interval of the {period}'s last row, hours (NULL if that row has none)"),
        Column("mark_price", Double,
               comment=f"mark price of the {period}'s last row, quote currency (NULL if that row has none)"),
        Column("index_price", Double,
               comment=f"index price of the {period}'s last row, quote currency (NULL if that row has none)"),
        Column("rows", Integer, nullable=False, comment=f"funding_rates rows in the {period}"),
        Column("premium", Double,
               comment=f"mean premium (mark - index) / index of the {period}'s rows with both prices, fraction "
                       "(NULL if none)"),
        Column("premium_rows", Integer, nullable=False, server_default=text("0"),
               comment=f"rows of the {period} with both mark and index price (those premium averages)"),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()"),
               comment="UTC time the rollup row was last written"),
        PrimaryKeyConstraint("exchange", "symbol", "settled", "time"),
        CheckConstraint("rows > 0", name="rows_positive"),
        Index(f"ix_{name}_series_covering", "exchange", "symbol", "settled", "time",
              postgresql_include=list(ROLLUP_SERIES_COVERING)),
        comment=f"{adjective} rollups of funding_rates, maintained by ingest (db.writes.write_funding)",
    )


funding_rates_15m = _funding_rollup("funding_rates_15m", "15-minute bucket", "15-minute")
funding_rates_1h = _funding_rollup("funding_rates_1h", "hour", "Hourly")
"""Funding rollups ``funding_rates_15m`` and ``funding_rates_1h``: one row per exchange + symbol + settled flag + UTC
15-minute bucket / hour (``time`` = its start) that holds ``funding_rates`` rows, computed from them by
``db.writes.write_funding`` (TimescaleDB ``time_bucket``, ``avg``, ``last``). A bucket of ``k`` whole rollup periods
has mean rate ``sum(funding_rate × rows) / sum(rows)`` over its rollup rows. Two tables rather than one with a width
column: each is read alone (15-minute buckets from the first, 1 hour and coarser from the second), so each keeps
the primary key and chunking of its own, and ``funding_rates_1h`` (revision 0002) stays as it was."""

open_interest = Table(
    "open_interest",
    metadata,
    _time(),
    Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
    Column("symbol", Text, nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
    Column("source", Text, nullable=False,
           comment="live (current snapshot), history (exchange history endpoint) or recorded (bundled data)"),
    Column("open_interest_contracts", Double, comment="open interest in contracts (venue's contract unit)"),
    Column("open_interest_base", Double, comment="open interest in base-asset units (contracts × contractSize)"),
    Column("open_interest_value", Double, comment="open interest notional in quote currency (USDT/USD)"),
    _received_at(),
    PrimaryKeyConstraint("exchange", "symbol", "source", "time"),
    CheckConstraint("source IN ('live', 'history', 'recorded')", name="source_known"),
    CheckConstraint("open_interest_contracts IS NULL OR open_interest_contracts >= 0", name="contracts_nonneg"),
    CheckConstraint("open_interest_base IS NULL OR open_interest_base >= 0", name="base_nonneg"),
    CheckConstraint("open_interest_value IS NULL OR open_interest_value >= 0", name="value_nonneg"),
    comment="Open interest per exchange + symbol: live snapshots, exchange history and recorded data (UTC time)",
)

#: Funding rollup tables by bucket width, finest first (same columns; ``db.writes`` maintains every one,
#: ``db.queries.funding_series`` reads the coarsest whose width tiles the chart's bucket).
FUNDING_ROLLUPS: dict[timedelta, Table] = {
    timedelta(minutes=15): funding_rates_15m,
    timedelta(hours=1): funding_rates_1h,
}

Index("ix_anomalies_time", anomalies.c.time.desc())
Index("ix_system_metrics_time", system_metrics.c.time.desc())

#: Every hypertable of the schema, in creation order.
HYPERTABLES: tuple[Table, ...] = (funding_rates, prices, anomalies, system_metrics, funding_rates_1h, funding_rates_15m,
                                  open_interest)

#: Chunk interval of each hypertable, by name.
CHUNK_INTERVALS: dict[str, timedelta] = {
    **{t.name: CHUNK_INTERVAL for t in HYPERTABLES},
    funding_rates_1h.name: ROLLUP_CHUNK_INTERVAL,
    funding_rates_15m.name: ROLLUP_CHUNK_INTERVAL,
    prices.name: PRICES_CHUNK_INTERVAL,
    anomalies.name: ANOMALIES_CHUNK_INTERVAL,
}

#: Market-data hypertables (retention: ``retention_days``); system_metrics has its own retention.
MARKET_TABLES: tuple[Table, ...] = (funding_rates, prices, anomalies, funding_rates_1h, funding_rates_15m,
                                    open_interest)


pair_extents = Table(
    "pair_extents",
    metadata,
    Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
    Column("symbol", Text, nullable=False, comment="ccxt unified symbol"),
    Column("stream", Text, nullable=False,
           comment="funding (funding_rates rows), ohlcv (prices rows, last price) or open_interest"),
    Column("first_time", DateTime(timezone=True), nullable=False, comment="UTC time of the stream's oldest row"),
    Column("last_time", DateTime(timezone=True), nullable=False, comment="UTC time of the stream's newest row"),
    Column("funding_interval_hours", Double,
           comment="funding: interval of the newest settled row that states one, hours (NULL: none does / ohlcv)"),
    Column("interval_time", DateTime(timezone=True), comment="funding: UTC time of that settled row"),
    PrimaryKeyConstraint("exchange", "symbol", "stream"),
    CheckConstraint("stream IN ('funding', 'ohlcv', 'open_interest')", name="stream_known"),
    comment="Which exchange + symbol pairs hold rows of each stream, and from when to when; maintained by ingest "
    "(db.writes.extents) with every write and after retention",
)
"""Catalogue ``pair_extents``: one row per exchange + symbol + stream with rows in ``funding_rates`` (``funding``)
or ``prices`` (``ohlcv``: candles of the last price, as written; rollup candles start at their bucket). A plain
table of a few thousand rows, so the symbol pickers, ``/api/symbols`` and the data extent read it in a millisecond
instead of a loose index scan over every chunk of the hypertables (hundreds of 1-day chunks for a year)."""
