"""``python -m ingest <command>``: run | backfill | load-recorded | recompute-anomalies | retention.

Logging is configured from ``settings.log_level`` (one line per event, UTC timestamps). Every command connects as
the ingest role (``Settings.database_url_for("ingest")``: ``DATABASE_INGEST_URL``, else ``DATABASE_URL``, else the
embedded cluster's ``alphapulse_ingest``). Exit status 0 on
success, 2 on bad arguments (argparse), 1 when the command fails (the error is logged on one line).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime

from db.engine import get_engine
from ingest.memory import limit_malloc_arenas
from settings import Settings, get_settings

log = logging.getLogger("ingest")


def setup_logging(settings: Settings) -> None:
    """Root logging at ``settings.log_level``, UTC timestamps, one line per record."""
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.Formatter.converter = time.gmtime


def _load_recorded(args, settings: Settings) -> int:
    from ingest.recorded import RECORDED_DIR, load_recorded

    started = time.monotonic()
    result = load_recorded(get_engine(settings.database_url_for("ingest")), settings, args.data_dir or RECORDED_DIR)
    log.info("load-recorded done in %.1f s: %d rows written, %d anomalies, %d rejected", time.monotonic() - started,
             result.written, result.anomalies, result.rejected_total)
    return 0


def _recompute(args, settings: Settings) -> int:
    from ingest.recompute import recompute_anomalies

    started = time.monotonic()
    written = recompute_anomalies(get_engine(settings.database_url_for("ingest")), settings)
    log.info("recompute-anomalies done in %.1f s: %d anomalies stored", time.monotonic() - started, written)
    return 0


def _run(args, settings: Settings) -> int:
    limit_malloc_arenas()
    from ingest.sessions import write_engine
    from ingest.worker import Worker

    log.info("ingest worker starting: exchanges %s, symbols %s", ",".join(settings.exchanges),
             ",".join(settings.symbols))
    status = asyncio.run(Worker(settings, write_engine(settings.database_url_for("ingest"), settings)).run())
    _exit_if_blocked(status)
    return status


def _exit_if_blocked(status: int) -> None:
    """Exit now when a thread is still blocked in the database after the stop (a server that stopped answering):
    everything unwritten is in the spool already, and waiting for the thread would break the 10 s promise."""
    blocked = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
               and not t.daemon]
    if blocked:
        log.warning("exiting with %d thread(s) still waiting on the database: %s", len(blocked), ", ".join(blocked))
        logging.shutdown()
        os._exit(status)


def _backfill(args, settings: Settings) -> int:
    from ingest.backfill import parse_since
    from ingest.symbols import normalize_symbols

    since = parse_since(args.since)
    until = parse_since(args.until) if args.until else datetime.now(UTC)
    symbols = normalize_symbols(args.symbols.split(",")) if args.symbols else normalize_symbols(settings.symbols)
    totals = asyncio.run(_backfill_async(settings, args.exchange, symbols, since, until))
    log.info("backfill done: %s", ", ".join(f"{k} {v}" for k, v in totals.items()))
    return 0


async def _backfill_async(settings: Settings, exchange: str, symbols, since, until) -> dict[str, int]:
    from ingest.backfill import backfill_symbol, known_intervals
    from ingest.exchange import ExchangeClient
    from ingest.pipeline import ingest_candles, ingest_funding

    engine = get_engine(settings.database_url_for("ingest"))
    totals = {"candles written": 0, "funding written": 0, "anomalies": 0, "rejected": 0}

    async def sink(kind, frame, exchange_id, stream):
        ingest = ingest_candles if kind == "candles" else ingest_funding
        result = await asyncio.to_thread(ingest, engine, frame, settings)
        totals[f"{kind} written"] += result.written
        totals["anomalies"] += result.anomalies
        totals["rejected"] += result.rejected_total

    async with ExchangeClient(exchange, settings) as client:
        intervals = await known_intervals(client, list(symbols))
        for symbol in symbols:
            sent = await backfill_symbol(client, engine, symbol, since, until, sink, intervals=intervals)
            log.info("backfill %s %s: %d candles, %d settlements fetched", exchange, symbol, sent["ohlcv"],
                     sent["funding_history"])
    return totals


def _check_exchanges(args, settings: Settings) -> int:
    from ingest.reach import report_lines, unreachable_exchanges

    for line in report_lines(asyncio.run(unreachable_exchanges(settings))):
        print(line, flush=True)
    return 0


def _retention(args, settings: Settings) -> int:
    from ingest.retention import apply_retention

    result = apply_retention(get_engine(settings.database_url_for("ingest")), settings)
    log.info("retention: chunks dropped %s", result.dropped)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (subcommands and their options)."""
    description = __doc__.splitlines()[0] if __doc__ else None  # None under python -OO (the live worker)
    parser = argparse.ArgumentParser(prog="python -m ingest", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("load-recorded", help="load the bundled real history (idempotent)")
    rec.add_argument("--data-dir", type=_path, default=None, help="directory of the recorded files")
    rec.set_defaults(handler=_load_recorded)
    sub.add_parser("run", help="the live worker (until SIGTERM/SIGINT)").set_defaults(handler=_run)
    bf = sub.add_parser("backfill", help="gap-aware, resumable history backfill")
    bf.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binanceusdm")
    bf.add_argument("--symbols", default="", help="comma-separated symbols (default: ALPHAPULSE_SYMBOLS)")
    bf.add_argument("--since", required=True, help="UTC start: YYYY-MM-DD[THH:MM] or Nd (N days ago)")
    bf.add_argument("--until", default="", help="UTC end (default: now)")
    bf.set_defaults(handler=_backfill)
    sub.add_parser("recompute-anomalies", help="rewrite stored anomalies from the raw rows (idempotent)") \
        .set_defaults(handler=_recompute)
    sub.add_parser("check-exchanges", help="print one line per configured exchange that cannot be reached") \
        .set_defaults(handler=_check_exchanges)
    sub.add_parser("retention", help="drop chunks past the retention ages once").set_defaults(handler=_retention)
    return parser


def _path(value: str):
    from pathlib import Path

    return Path(value)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up logging, run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    settings = get_settings()
    setup_logging(settings)
    try:
        return args.handler(args, settings)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: one clear line, exit 1
        log.error("%s failed: %s: %s", args.command, type(exc).__name__, exc)
        return 1


def exec_optimized(argv: list[str]) -> None:
    """Run the live worker (``argv`` = ``["run", …]``) under ``python -OO``: replace this process (same pid, same
    stdio) with the same command line plus ``-OO`` unless the interpreter already runs at that level. ``-OO``
    leaves docstrings and ``assert`` statements out of every module the worker loads (pandas, numpy, SQLAlchemy,
    ccxt…: ~9 MB less RSS with the whole funding universe, ``make bench-market``; issue 8's goal is <= 150 MB).
    The worker's code reads no docstring and checks nothing with ``assert`` at run time (the module-level
    ``assert``s of ``db.writes`` state constants that the tests check). Other commands run as started.
    Returns only when nothing is replaced; raises OSError when ``execv`` fails."""
    if argv[:1] == ["run"] and sys.flags.optimize < 2:
        os.execv(sys.executable, [sys.executable, "-OO", *sys.orig_argv[1:]])


if __name__ == "__main__":
    exec_optimized(sys.argv[1:])
    sys.exit(main())
