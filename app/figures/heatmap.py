"""The funding heatmap of the Markets page (issue 8, item 7): coins × time buckets, colour = annualised funding.

Input: the frame of ``db.queries.heatmap.funding_heatmap`` — ``coin`` (base asset, ``db.coins``), ``time`` (bucket
start, aware UTC), ``annualised`` (fraction per year: the bucket's funding rate × 8,760 / the symbol's funding
interval in hours; one venue, or the venues averaged weighted by open interest) and ``venues`` (what the bucket
averages: a count of venues, or text naming each venue's value). Output: a plain plotly figure dict (see
:mod:`app.figures`), values in %/yr.

The colour scale is diverging and centred at zero (``zmid=0``, ``zmin = −zmax``): red is positive funding (longs
pay shorts), blue negative (shorts pay longs). It is clipped at the :data:`CLIP_PERCENTILE` th percentile of
|value| so one outlier does not wash every other cell out; clipped cells take the end colours and their hover
still gives the true value.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from app.figures.common import DATE_TICKS, MODEBAR_REMOVE, TEMPLATE_JSON, figure, plotly_time, utc_naive
from db.queries.markets import annualise

#: Percentile of |annualised| at which the colour scale is clipped (dimensionless, 0–100).
CLIP_PERCENTILE = 98.0
#: Diverging colour scale (ColorBrewer RdBu, reversed): negative funding blue, zero white, positive red.
DIVERGING = [
    [0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"], [1.0, "#b2182b"],
]  # fmt: skip
#: Row height (px) of the heatmap and its least total height (px): hundreds of coins scroll the page.
ROW_PX, MIN_HEIGHT = 18, 260
#: Row orders (besides a column's time): by open interest, the newest bucket, the window mean, the coin's name.
ORDERS = ("oi", "latest", "mean", "coin")


def heatmap_matrix(frame: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray, list[list[str]]]:
    """``(coins, times, z, notes)`` of a heatmap frame (module docstring): coins sorted by name, times the sorted
    bucket starts (UTC ``datetime64``), ``z`` the coins × times matrix of annualised funding in %/yr (NaN where a
    coin has no value in a bucket; of several rows of one cell the first with a value) and ``notes`` the matching
    text of the ``venues`` column (the cell's first row; ``""`` where none)."""
    coin_codes, coins = pd.factorize(frame["coin"], sort=True)
    time_codes, times = pd.factorize(utc_naive(frame["time"]), sort=True)
    cells = coin_codes * len(times) + time_codes
    keyed = (coin_codes >= 0) & (time_codes >= 0)  # rows without a coin or a time are in no cell
    pct = frame["annualised"].to_numpy(dtype="float64", na_value=np.nan) * 100.0
    z = np.full(len(coins) * len(times), np.nan)
    valued = np.flatnonzero(~np.isnan(pct) & keyed)
    first = valued[np.unique(cells[valued], return_index=True)[1]]  # each cell's first row with a value
    z[cells[first]] = pct[first]
    notes = np.full(len(z), "", dtype=object)
    if "venues" in frame:
        rows = np.flatnonzero(keyed)
        rows = rows[np.unique(cells[rows], return_index=True)[1]]  # each cell's first row
        notes[cells[rows]] = [_venue_note(v) for v in frame["venues"].to_numpy()[rows]]
    shape = (len(coins), len(times))
    return list(coins), np.asarray(times), z.reshape(shape), notes.reshape(shape).tolist()


def _venue_note(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)):
        return f"{value} venue{'s' if value != 1 else ''}"
    if isinstance(value, dict):
        return "<br>".join(f"{k}: {v * 100:+.2f} %/yr" for k, v in value.items())
    return str(value)


def clip_level(z: np.ndarray, percentile: float = CLIP_PERCENTILE) -> float:
    """The colour scale's end (%/yr): the ``percentile`` th percentile of |z| over the finite cells, at least
    0.01 %/yr (so an all-zero map still has a scale). Raises ``ValueError`` for a percentile outside 0–100."""
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be within 0..100, got {percentile!r}")
    finite = np.abs(z[np.isfinite(z)])
    level = float(np.percentile(finite, percentile)) if finite.size else 0.0
    return max(level, 0.01)


def row_order(coins: list[str], times: np.ndarray, z: np.ndarray, order: str,
              open_interest: dict[str, float] | None = None) -> list[int]:
    """Row indices of ``coins`` from the top down for ``order``: ``oi`` (largest open interest first, from
    ``open_interest`` coin → quote value; unknown last), ``latest`` (highest value in its newest bucket with data
    first), ``mean`` (highest window mean first), ``coin`` (by name), or a column's ISO time (highest value in
    that bucket first; an unknown time orders by ``latest``). Coins without a value go last, by name."""
    if order == "coin" or not len(coins):
        return list(range(len(coins)))
    if order == "oi":
        key = np.array([(open_interest or {}).get(c, np.nan) for c in coins], dtype="float64")
    elif order == "mean":
        key = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in z])
    else:
        column = _column_of(times, order)
        key = z[:, column] if column is not None else np.array([_last_finite(r) for r in z])
    return sorted(range(len(coins)), key=lambda i: (not np.isfinite(key[i]), -key[i] if np.isfinite(key[i]) else 0,
                                                    coins[i]))  # fmt: skip


def _column_of(times: np.ndarray, order: str) -> int | None:
    if order in ORDERS:
        return None
    try:
        wanted = pd.Timestamp(order).tz_convert(None).to_datetime64()
    except (ValueError, TypeError):
        return None
    hits = np.flatnonzero(times == wanted)
    return int(hits[0]) if hits.size else None


def _last_finite(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(finite[-1]) if finite.size else np.nan


def heatmap_figure(frame: pd.DataFrame, title: str, uirevision: str, order: str = "oi",
                   open_interest: dict[str, float] | None = None,
                   window: tuple[datetime, datetime] | None = None, row_title: str = "Coin") -> dict:
    """The heatmap figure of ``frame`` (module docstring): one row per coin in :func:`row_order` (top row first),
    one column per bucket, colour = annualised funding in %/yr on :data:`DIVERGING` centred at zero and clipped at
    :func:`clip_level`; hover gives coin, bucket start (UTC), value in %/yr and per 8 h in bp, and the ``venues``
    note. ``title`` says what is averaged (the colour bar's caption adds the unit); ``window`` fixes the time
    axis to the view's range; ``row_title`` names the rows (the ``coin`` column may hold other labels, e.g.
    :func:`series_frame`'s). Raises ``KeyError`` for a frame without the columns."""
    coins, times, z, notes = heatmap_matrix(frame)
    rows = row_order(coins, times, z, order, open_interest)
    coins, z = [coins[i] for i in rows], z[rows]
    notes = [notes[i] for i in rows]
    level = clip_level(z)
    bp_8h = z / 100.0 * 8 / 8760 * 10_000  # %/yr → fraction/yr → per 8 h → bp
    custom = np.dstack([bp_8h, np.array(notes, dtype=object)]) if coins else []
    trace = {
        "type": "heatmap", "x": times, "y": coins, "z": z, "zmid": 0.0, "zmin": -level, "zmax": level,
        "colorscale": DIVERGING, "customdata": custom, "xgap": 0, "ygap": 1, "hoverongaps": False,
        "colorbar": {"title": {"text": "Annualised<br>funding<br>(%/yr)"}, "thickness": 12, "ticksuffix": " %"},
        "hovertemplate": "%{y} · %{x|%Y-%m-%d %H:%M} UTC<br>%{z:+.2f} %/yr (%{customdata[0]:+.2f} bp per 8 h)"
                         "<br>%{customdata[1]}<extra></extra>",
        "name": title,
    }  # fmt: skip
    xaxis = {"title": {"text": "Time (UTC)"}, "side": "top", **DATE_TICKS}
    if window is not None:
        xaxis["range"] = [plotly_time(window[0]), plotly_time(window[1])]
    layout = {
        "template": TEMPLATE_JSON, "height": max(MIN_HEIGHT, ROW_PX * len(coins) + 110),
        "margin": {"l": 70, "r": 16, "t": 70, "b": 16}, "uirevision": uirevision,
        "modebar": {"orientation": "v", "remove": MODEBAR_REMOVE}, "xaxis": xaxis,
        "yaxis": {"title": {"text": row_title}, "autorange": "reversed", "type": "category", "automargin": True,
                  "dtick": 1},
    }  # fmt: skip
    return figure([trace], layout)


def series_frame(funding: pd.DataFrame) -> pd.DataFrame:
    """A heatmap frame (module docstring) of the Overview's funding series, one row per exchange + symbol: ``coin``
    is the row label ``"BTC/USDT · bybit"``, ``annualised`` each bucket's rate × 8,760 / that row's own funding
    interval in hours (fraction per year), ``venues`` says whether the bucket's value is ``settled`` or
    ``predicted``; a settled value wins over a predicted one in the same bucket; rows without an interval are left
    out. ``funding``: ``db.queries.funding_series`` rows (``time``, ``exchange``, ``symbol``, ``settled``,
    ``funding_rate`` fraction per interval, ``funding_interval_hours``)."""
    rows = funding[funding["funding_interval_hours"].astype("float64") > 0]
    rows = rows.sort_values("settled", ascending=False, kind="stable")
    label = rows["symbol"].str.split(":").str[0] + " · " + rows["exchange"]
    hours = rows["funding_interval_hours"].astype("float64")
    frame = pd.DataFrame({
        "coin": label, "time": rows["time"], "annualised": annualise(rows["funding_rate"].astype("float64"), hours),
        "venues": np.where(rows["settled"].astype(bool), "settled", "predicted"),
    })  # fmt: skip
    return frame.drop_duplicates(["coin", "time"], keep="first").reset_index(drop=True)
