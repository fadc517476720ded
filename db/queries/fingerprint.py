"""Change detection of the dashboard: row count and newest time per table in a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from db.queries.common import check_range, pair_filters
from db.schema import anomalies, funding_rates, prices, system_metrics


def window_fingerprint(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    tables: Sequence[str] = ("funding_rates", "prices", "anomalies"),
) -> dict[str, tuple[int, datetime | None]]:
    """Row count and newest ``time`` (UTC) per table in ``[start, end)`` for the given exchanges/symbols:
    ``{table: (rows, newest)}``; ``system_metrics`` may be named too (not filtered: it has no pair columns).

    The dashboard's change detector: a page redraws only when this differs from what it drew. Bounded in time,
    so chunk exclusion keeps planning and scanning to the chunks of the range. Raises ``ValueError`` for a bad
    range and ``KeyError`` for an unknown table name.
    """
    check_range(start, end)
    known = {t.name: t for t in (funding_rates, prices, anomalies, system_metrics)}
    out = {}
    for name in tables:
        table = known[name]
        clauses = [table.c.time >= start, table.c.time < end]
        if "exchange" in table.c:
            clauses += pair_filters(table, exchanges, symbols)
        rows, newest = conn.execute(select(func.count(), func.max(table.c.time)).where(*clauses)).one()
        out[name] = (int(rows), newest)
    return out
