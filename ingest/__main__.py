"""``python -m ingest <command>``: run | backfill | load-recorded | retention.

Logging is configured from ``settings.log_level`` (one line per event, UTC timestamps). Exit status 0 on
success, 2 on bad arguments (argparse), 1 when the command fails (the error is logged on one line).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from db.engine import get_engine
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
    result = load_recorded(get_engine(), settings, args.data_dir or RECORDED_DIR)
    log.info("load-recorded done in %.1f s: %d rows written, %d anomalies, %d rejected", time.monotonic() - started,
             result.written, result.anomalies, result.rejected_total)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (subcommands and their options)."""
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("load-recorded", help="load the bundled real history (idempotent)")
    rec.add_argument("--data-dir", type=_path, default=None, help="directory of the recorded files")
    rec.set_defaults(handler=_load_recorded)
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


if __name__ == "__main__":
    sys.exit(main())
