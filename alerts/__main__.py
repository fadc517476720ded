"""``python -m alerts run``: the alerts worker; SIGINT/SIGTERM stop it gracefully after the current cycle."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from alerts.evaluator import Evaluator
from db.engine import make_engine
from settings import get_settings


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m alerts", description="AlphaPulse alerts worker")
    parser.add_argument("command", choices=["run"], help="run: evaluate rules every ALPHAPULSE_ALERT_EVAL_SECONDS")
    parser.parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    engine = make_engine(settings.database_url_for("alerts"))
    try:
        Evaluator(engine, settings).run(stop)
    finally:
        engine.dispose()
    logging.getLogger("alerts").info("alerts worker stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
