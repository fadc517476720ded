"""Condition evaluation: for each kind, one query per cycle reads what every rule of that kind needs for every
pair, then each rule is matched against the rows in memory (500 rules × 50 pairs is ~25,000 comparisons).

:func:`evaluate` returns, per rule id, ``{subject: Reading}``: the value in the kind's unit and whether the
condition holds. Units: funding in % per year (rate × 8760 / interval hours × 100, the pair's own interval),
spread in % per year (max − min across venues of a coin), premium in basis points ((mark / index − 1) × 1e4),
price change in % (close(t) / close(t − window) − 1) × 100 on 1-minute candles, anomaly |z| (dimensionless),
feed staleness in seconds since the newest row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from alerts.scope import Scope, coin_name, pair_subject
from db.alerts import Rule
from db.queries.feeds import feed_health
from db.queries.markets import annualise

#: Latest funding row per pair is looked for this far back.
FUNDING_LOOKBACK = timedelta(hours=12)
#: Latest 1-minute candle per pair is looked for this far back (older: the pair is not evaluated).
CANDLE_LOOKBACK = timedelta(minutes=15)

_FUNDING_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, funding_rate, funding_interval_hours AS hours,
       mark_price, index_price
FROM funding_rates WHERE time > :since AND time <= :now ORDER BY exchange, symbol, time DESC
"""
_PRICE_SQL = """
WITH latest AS (
  SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, close FROM prices
  WHERE timeframe = '1m' AND price_kind = 'last' AND time > :since AND time <= :now
  ORDER BY exchange, symbol, time DESC)
SELECT l.exchange, l.symbol, w.m AS window_minutes, l.close, b.close AS base
FROM latest l CROSS JOIN unnest(CAST(:windows AS int[])) AS w(m)
JOIN LATERAL (SELECT close FROM prices WHERE exchange = l.exchange AND symbol = l.symbol AND timeframe = '1m'
     AND price_kind = 'last' AND time <= l.time - make_interval(mins => w.m)
     AND time > l.time - make_interval(mins => w.m) - :lookback ORDER BY time DESC LIMIT 1) b ON true
"""
_ANOMALY_SQL = """
SELECT exchange, symbol, metric, max(abs(z_score)) AS z FROM anomalies
WHERE time > :since AND time <= :now GROUP BY exchange, symbol, metric
"""


@dataclass(frozen=True)
class Reading:
    """One subject's ``value`` (the kind's unit, module doc), the ``threshold`` it is compared with (same unit;
    for ``feed_stale`` the multiple × the feed's cadence in seconds) and whether the rule's condition ``holds``."""

    value: float
    holds: bool
    threshold: float


Readings = dict[int, dict[str, Reading]]


def annualised_pct(rate: float, hours: float | None) -> float | None:
    """A funding rate (fraction per interval) as % per year: rate × 8760 / hours × 100; ``None`` without hours."""
    return None if not hours else annualise(rate, hours) * 100.0


def evaluate(conn: Connection, rules: Iterable[Rule], now: datetime, anomaly_since: datetime) -> Readings:
    """Readings of every enabled rule at ``now`` (aware UTC); anomalies count when observed after ``anomaly_since``.
    One query per kind present (funding kinds and premium share one)."""
    by_kind: dict[str, list[tuple[Rule, Scope]]] = defaultdict(list)
    for rule in rules:
        by_kind[rule.kind].append((rule, Scope.of(rule)))
    out: Readings = {}
    if by_kind.keys() & {"funding_above", "funding_below", "funding_spread", "premium"}:
        rows = conn.execute(text(_FUNDING_SQL), {"since": now - FUNDING_LOOKBACK, "now": now}).all()
        out |= _funding(by_kind, rows)
    if by_kind.get("price_change"):
        out |= _price(conn, by_kind["price_change"], now)
    if by_kind.get("anomaly_z"):
        rows = conn.execute(text(_ANOMALY_SQL), {"since": anomaly_since, "now": now}).all()
        out |= {r.id: _anomaly(r, s, rows) for r, s in by_kind["anomaly_z"]}
    if by_kind.get("feed_stale"):
        feeds = feed_health(conn, now).feeds
        out |= {r.id: _stale(r, s, feeds) for r, s in by_kind["feed_stale"]}
    return out


def _funding(by_kind, rows) -> Readings:
    annual = [(r.exchange, r.symbol, annualised_pct(r.funding_rate, r.hours)) for r in rows]
    annual = [a for a in annual if a[2] is not None]
    out: Readings = {}
    for rule, scope in by_kind.get("funding_above", []) + by_kind.get("funding_below", []):
        level, above = rule.params["level_pct_per_year"], rule.kind == "funding_above"
        out[rule.id] = {pair_subject(e, s): Reading(v, v >= level if above else v <= level, level)
                        for e, s, v in annual if scope.has_pair(e, s)}
    for rule, scope in by_kind.get("funding_spread", []):
        coins: dict[str, list[float]] = defaultdict(list)
        for e, s, v in annual:
            if scope.has_pair(e, s):
                coins[coin_name(s)].append(v)
        level = rule.params["level_pct_per_year"]
        out[rule.id] = {f"coin|{c}": Reading(max(vs) - min(vs), max(vs) - min(vs) >= level, level)
                        for c, vs in coins.items() if len(vs) > 1}
    premiums = [(r.exchange, r.symbol, (r.mark_price / r.index_price - 1.0) * 1e4) for r in rows
                if r.mark_price and r.index_price]
    for rule, scope in by_kind.get("premium", []):
        level = rule.params["level_bp"]
        out[rule.id] = {pair_subject(e, s): Reading(v, abs(v) >= level, level)
                         for e, s, v in premiums if scope.has_pair(e, s)}
    return out


def _price(conn: Connection, rules: list[tuple[Rule, Scope]], now: datetime) -> Readings:
    windows = sorted({r.params["window_minutes"] for r, _ in rules})
    rows = conn.execute(text(_PRICE_SQL), {"since": now - CANDLE_LOOKBACK, "now": now, "windows": windows,
                                           "lookback": CANDLE_LOOKBACK}).all()
    by_window: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
    for r in rows:
        if r.base:
            by_window[r.window_minutes].append((r.exchange, r.symbol, (r.close / r.base - 1.0) * 100.0))
    out: Readings = {}
    for rule, scope in rules:
        pct = rule.params["pct"]
        out[rule.id] = {pair_subject(e, s): Reading(v, abs(v) >= pct, pct)
                        for e, s, v in by_window[rule.params["window_minutes"]] if scope.has_pair(e, s)}
    return out


def _anomaly(rule: Rule, scope: Scope, rows) -> dict[str, Reading]:
    metric, level = rule.params["metric"], rule.params["min_abs_z"]
    return {pair_subject(r.exchange, r.symbol): Reading(r.z, r.z >= level, level) for r in rows
            if r.metric == metric and scope.has_pair(r.exchange, r.symbol)}


def _stale(rule: Rule, scope: Scope, feeds) -> dict[str, Reading]:
    multiple, out = rule.params["multiple"], {}
    for f in feeds.itertuples():
        if scope.has_exchange(f.exchange) and f.lag_seconds == f.lag_seconds:  # NaN: no row at all, not a lag
            limit = multiple * f.cadence_seconds
            out[f"feed|{f.exchange}|{f.stream}"] = Reading(float(f.lag_seconds), f.lag_seconds > limit, limit)
    return out
