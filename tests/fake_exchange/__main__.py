"""Run the fake exchange standalone: ``python -m tests.fake_exchange --port 8765 --symbols 100``.

Prints one line ending with the base URL (``… at http://127.0.0.1:8765``), then serves until interrupted
(Ctrl-C / SIGTERM; exit status 0). ``--symbols N`` serves N Binance USD-M symbols (the eight
recorded ones first; beyond eight, further symbol names from ``--universe``, by default the unlicensed premiumIndex
snapshot in ``../shared/data`` that is not in the repository: ``store.SHARED_UNIVERSE_FILE``; those symbols' current
funding is that snapshot's, and they have no other recorded data: empty values and ``[]`` elsewhere). ``--now``
sets the exchange clock (UTC ms; default 2025-06-17 08:38:08) and ``--running`` lets it tick on with wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from tests.fake_exchange.server import FakeExchange
from tests.fake_exchange.store import DEFAULT_NOW_MS, SHARED_UNIVERSE_FILE, RecordedStore


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``, serve until SIGINT/SIGTERM. Prints the base URL on start."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_exchange", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--symbols", type=int, default=None, help="number of Binance symbols to serve")
    parser.add_argument("--universe", type=Path, default=SHARED_UNIVERSE_FILE,
                        help="Binance premiumIndex JSON naming the symbols beyond the eight recorded ones")
    parser.add_argument("--now", type=int, default=DEFAULT_NOW_MS, help="exchange clock, UTC ms")
    parser.add_argument("--running", action="store_true", help="let the clock advance with wall time")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeExchange(RecordedStore.load(args.symbols, args.universe), args.host, args.port) as fake:
        fake.set_now(args.now, args.running)
        print(f"fake exchange serving {len(fake.view.store.bases)} Binance symbols at {fake.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
