"""``make bench-anomalies``: how many observations the anomaly methods flag on the stored data (prints figures).

Per metric and venue: observations, flagged, flagged %, max |z| and anomalies per symbol per day, computed from
the raw rows with the current defaults (:func:`ingest.recompute.judged_series`; nothing is written). Goals at
the defaults: ≤ 0.1 % of 1-minute observations and ≤ 1 % of funding settlements flagged. Load the bundled data
first (``python -m ingest load-recorded``).
"""

from __future__ import annotations

import time

import pandas as pd

from db.engine import get_engine
from ingest.recompute import KINDS, judged_series
from settings import get_settings


def main() -> None:
    """Print one line per metric + venue (see module docstring)."""
    settings = get_settings()
    started = time.monotonic()
    rows = []
    engine = get_engine(settings.database_url_for("ingest"))
    for kind, exchange, symbol, found, observations, days in judged_series(engine, settings):
        for metric in KINDS[kind].metrics:
            hits = found[found["metric"] == metric]
            rows.append(
                {
                    "metric": metric,
                    "exchange": exchange,
                    "symbol": symbol,
                    "observations": observations,
                    "flagged": len(hits),
                    "max_abs_z": hits["z_score"].abs().max(),
                    "days": days,
                }
            )
    table = (
        pd.DataFrame(rows)
        .groupby(["metric", "exchange"])
        .agg(
            symbols=("symbol", "nunique"),
            observations=("observations", "sum"),
            flagged=("flagged", "sum"),
            max_abs_z=("max_abs_z", "max"),
            symbol_days=("days", "sum"),
        )
    )
    table["flagged_%"] = 100 * table["flagged"] / table["observations"]
    table["per_symbol_day"] = table["flagged"] / table["symbol_days"]
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.drop(columns="symbol_days").to_string())
    print(f"judged in {time.monotonic() - started:.1f} s (threshold scale {settings.anomaly_threshold_scale})")


if __name__ == "__main__":
    main()
